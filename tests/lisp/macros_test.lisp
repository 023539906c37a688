;; defmacro, syntax-quote with ~ ~@ and auto-gensyms, gensym, and where
;; macros expand.
(import "valk/test")

(defmacro unless [test then else] (list 'if test else then))

(defmacro my-when [test & body] `(if ~test (do ~@body) nil))

(defmacro swap-args [f a b] `(~f ~b ~a))

(defmacro with-doubled [name value & body]
  `(let [~name (* 2 ~value)] ~@body))

(defmacro squared [x]
  `(let [v# ~x] (* v# v#)))

(defmacro documented "A docstring on a macro." [x] x)

(deftest defmacro-with-list
  (is (= 1 (unless false 1 2)))
  (is (= 2 (unless true 1 2))))

(deftest macro-arguments-are-not-evaluated
  (let [hits (atom 0)]
    (is (nil? (my-when false (swap! hits inc))))
    (is (= 0 @hits))
    (is (= 2 (my-when true (swap! hits inc) (swap! hits inc))))
    (is (= 2 @hits))))

(deftest unquote-and-splice
  (is (= 3 (swap-args - 1 4)))
  (is (= 10 (with-doubled d 5 d)))
  (is (= 12 (with-doubled d 5 (inc d) (+ d 2))))
  (let [xs [1 2 3]]
    (is (= '(a 1 2 3 b) `(a ~@xs b)))
    (is (= '(a [1 2 3] b) `(a ~xs b)))
    (is (= [0 1 2 3 4] `[0 ~@xs 4]))
    (is (= {:k 3} `{:k ~(count xs)}))
    (is (= #{1 2 3 :x} `#{:x ~@xs}))
    (is (= '(+ 1 (* 2 3)) `(+ 1 (* 2 ~(+ 1 2)))))))

(deftest syntax-quote-leaves-constants-alone
  (is (= 1 `1))
  (is (= "s" `"s"))
  (is (= :k `:k))
  (is (= 'sym `sym))
  (is (nil? `nil)))

(deftest auto-gensyms-evaluate-once-and-are-unique
  (let [hits (atom 0)]
    (is (= 9 (squared (do (swap! hits inc) 3))))
    (is (= 1 @hits)))
  ;; Within one syntax-quote, x# is the same symbol each time ...
  (let [form `(let [x# 1] x#)]
    (is (= (first (second form)) (second (rest form)))))
  ;; ... and a different one in another syntax-quote.
  (is (not= (first (second `(let [x# 1] x#)))
            (first (second `(let [x# 1] x#)))))
  ;; An auto-gensym does not capture the caller's names.
  (let [v 10]
    (is (= 16 (squared (- v 6))))))

(deftest gensym-makes-fresh-symbols
  (is (symbol? (gensym)))
  (is (not= (gensym) (gensym)))
  (is (starts-with? (name (gensym "tmp")) "tmp")))

(deftest macros-expand-in-nested-positions
  (is (= [1] [(unless false 1 2)]))
  (is (= {:a 1} {:a (unless false 1 2)}))
  (is (= 3 (+ 1 (unless false 2 0))))
  (is (= 1 ((fn [] (unless false 1 2)))))
  (is (= 1 (let [x (unless false 1 2)] x)))
  (is (= 1 (if (unless false true false) 1 2)))
  (is (= 4 (loop [i 0] (unless (< i 4) i (recur (inc i))))))
  (is (= :caught (try (unless false (throw :e) nil) (catch e :caught)))))

(defmacro my-and [& xs]
  (cond
    (empty? xs) true
    (empty? (rest xs)) (first xs)
    :else `(let [v# ~(first xs)] (if v# (my-and ~@(rest xs)) v#))))

(deftest recursive-macro
  (is (= true (my-and)))
  (is (= 3 (my-and 1 2 3)))
  (is (nil? (my-and 1 nil 3)))
  (is (= false (my-and 1 false (throw :never)))))

(defmacro def-getter [name key] `(defn ~name [m] (get m ~key)))
(def-getter get-a :a)

(deftest macro-producing-a-definition
  (is (= 1 (get-a {:a 1})))
  (is (nil? (get-a {}))))

(deftest a-local-shadows-a-macro
  (let [unless (fn [a b c] [a b c])]
    (is (= [false 1 2] (unless false 1 2)))))

(deftest macro-errors-are-syntax-errors
  (is-thrown? :syntax-error (eval '(unless)))
  (is-thrown? :syntax-error (eval '(~x))))

(defmacro forever [] '(forever))
(defmacro forever-via-eval [] (eval '(forever-via-eval)))

(deftest runaway-expansion-is-a-syntax-error
  ;; Not a crash of the compiler's C++ stack.
  (is-thrown? :syntax-error (eval '(forever)))
  (is-thrown? :syntax-error (eval '(forever-via-eval)))
  (let [e (try (eval '(forever)) (catch e e))]
    (is (includes? (error-message e) "nested too deeply"))))

(deftest deeply-nested-forms
  (let [nest (fn [n wrap] (reduce (fn [acc _] (wrap acc)) 1 (range n)))]
    (is (= 1 (eval (nest 2000 (fn [x] (list 'do x))))))
    (is (fn? (eval (nest 1000 (fn [x] (list 'fn [] x))))))
    (is-thrown? :syntax-error (eval (nest 12000 (fn [x] (list 'do x)))))
    (is-thrown? :syntax-error (eval (nest 12000 (fn [x] (list 'fn [] x)))))
    (is-thrown? :syntax-error (eval (nest 12000 (fn [x] (list 'try x '(finally 1))))))))

(deftest core-macros
  (is (= 2 (-> 1 inc)))
  (is (= 12 (-> 5 (- 2) (* 4))))
  (is (= -3 (->> 5 (- 2))))
  (is (= [2 3] (->> [1 2] (map inc) vec)))
  (is (= 6 (some-> "5" parse-long inc)))
  (is (= 2 (some-> {:a {:b 2}} :a (get :b))))
  (is (nil? (some-> {:a nil} :a (get :b))))
  (is (nil? (some-> nil inc)))
  (is (= "10" (as-> 5 x (* x 2) (str x))))
  (is (= :b (cond false :a true :b :else :c)))
  (is (= :c (cond false :a nil :b :else :c)))
  (is (nil? (cond false :a)))
  (is (= "two" (case 2 1 "one" 2 "two" "other")))
  (is (= "other" (case 9 1 "one" 2 "two" "other")))
  (is (= "small" (case 3 (1 2 3) "small" "big")))
  (is (= "kw" (case :a :a "kw" "s")))
  (is (error? (try (case 9 1 "one") (catch e e))))
  (is (= 3 (when-let [x 3] x)))
  (is (nil? (when-let [x nil] (throw :never))))
  (is (= :no (if-let [x false] x :no)))
  (is (= 6 (let [acc (atom 0)] (dotimes [i 4] (swap! acc + i)) @acc)))
  (is (= [1 2] (let [acc (atom [])] (doseq [x [1 2]] (swap! acc conj x)) @acc)))
  (is (= [[1 :a] [2 :a]] (for [x [1 2] y [:a]] [x y])))
  (is (= [1 9] (for [x [1 2 3] :when (odd? x)] (* x x)))))

(run-tests)
