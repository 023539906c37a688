;; Special forms: quote if do def let fn λ loop recur and or try throw,
;; parameter vectors, multi-arity functions and the reader's whitespace.
(import "valk/test")

(deftest quote-returns-the-form-unevaluated
  (is (= 'a (quote a)))
  (is (symbol? 'a))
  (is (= '(+ 1 2) (list '+ 1 2)))
  (is (list? '(1 2)))
  (is (= 3 (count '(a b c))))
  (is (= '[a b] (vector 'a 'b)))
  (is (not= 'a 'b)))

(deftest if-tests-truthiness
  (is (= :then (if true :then :else)))
  (is (= :else (if false :then :else)))
  (is (= :else (if nil :then :else)))
  ;; Everything but nil and false is truthy.
  (is (= :then (if 0 :then :else)))
  (is (= :then (if "" :then :else)))
  (is (= :then (if [] :then :else)))
  (is (= :then (if '() :then :else)))
  (is (nil? (if false :then)))
  (is (= 2 (if (< 1 2) (+ 1 1) (+ 2 2)))))

;; A comparison that is the test of an if compiles to one compare-and-branch
;; instruction; it must behave as the comparison followed by the if, also
;; when another branch jumps to the end of the test.
(deftest if-on-a-comparison
  (let [pick (fn [a b]
               [(if (< a b) :lt :not-lt) (if (<= a b) :le :not-le) (if (> a b) :gt :not-gt)
                (if (>= a b) :ge :not-ge) (if (== a b) :eq :not-eq)])]
    (is (= [:lt :le :not-gt :not-ge :not-eq] (pick 1 2)))
    (is (= [:not-lt :le :not-gt :ge :eq] (pick 2 2)))
    (is (= [:not-lt :not-le :gt :ge :not-eq] (pick 3 2)))
    (is (= [:lt :le :not-gt :not-ge :not-eq] (pick 1 2.5)))
    (is (= [:not-lt :le :not-gt :ge :eq] (pick 2.0 2)))
    (is (= [:not-lt :not-le :not-gt :not-ge :not-eq] (pick ##NaN 1)))
    (is-thrown? :type-error (pick "a" 1))
    (is-thrown? :type-error (if (< 1 nil) 1 2)))
  (let [nested (fn [c a b] (if (if c true (< a b)) :yes :no))
        anded (fn [c a b] (if (and c (< a b)) :yes :no))
        ored (fn [c a b] (if (or c (< a b)) :yes :no))]
    (is (= :yes (nested true 5 1)))
    (is (= :no (nested false 5 1)))
    (is (= :yes (nested false 1 5)))
    (is (= :no (anded false 1 5)))
    (is (= :yes (anded true 1 5)))
    (is (= :no (anded true 5 1)))
    (is (= :yes (ored true 5 1)))
    (is (= :no (ored false 5 1)))
    (is (= :yes (ored false 1 5))))
  (is (= :done (loop [i 0] (if (< i 10) (recur (inc i)) :done))))
  (is (= 55 (loop [i 10 acc 0] (if (== i 0) acc (recur (dec i) (+ acc i)))))))

(deftest if-evaluates-one-branch
  (let [hits (atom [])]
    (if true (swap! hits conj :a) (swap! hits conj :b))
    (is (= [:a] @hits))))

(deftest do-returns-the-last-value
  (is (= 3 (do 1 2 3)))
  (is (nil? (do)))
  (let [a (atom 0)]
    (is (= :done (do (reset! a 1) (swap! a inc) :done)))
    (is (= 2 @a))))

(def forty-two 42)
(def described "a docstring" :value)

(deftest def-defines-globals
  (is (= 42 forty-two))
  (is (= :value described))
  (def defined-inside 7)
  (is (= 7 defined-inside))
  (def defined-inside 8)
  (is (= 8 defined-inside)))

(deftest let-binds-sequentially
  (is (= 3 (let [a 1 b (+ a 1)] (+ a b))))
  (is (= 2 (let [x 1 x (inc x)] x)))
  (is (= 1 (let [x 1] (let [x 2] x) x)))
  (is (nil? (let [a 1])))
  (is (= 5 (let [] 5)))
  (is (= [1 2] (let [a 1 b 2] [a b]))))

(deftest fn-and-lambda
  (is (= 3 ((fn [a b] (+ a b)) 1 2)))
  (is (= 3 ((λ [a b] (+ a b)) 1 2)))
  (is (= :x ((fn [] :x))))
  (is (nil? ((fn []))))
  (is (fn? (fn [])))
  (is (fn? +))
  (is (not (fn? 1))))

(deftest rest-parameters
  (is (= [1 '(2 3)] ((fn [a & more] [a more]) 1 2 3)))
  (is (= '(1 2 3) ((fn [& xs] xs) 1 2 3)))
  (is (empty? ((fn [a & more] more) 1)))
  (is (= 6 ((fn [& xs] (apply + xs)) 1 2 3))))

(deftest parameter-lists
  ;; A list of parameters is accepted as well as a vector.
  (is (= [1 2] ((fn (a b) [a b]) 1 2)))
  (is (= 7 ((fn () 7))))
  (is (= '(2 3) ((fn (a & more) more) 1 2 3)))
  (is (= [0 1] (let [f (fn (() 0) ((a) a))] [(f) (f 1)]))))

(deftest multi-arity
  (let [f (fn ([] :zero)
              ([a] [:one a])
              ([a b] [:two a b])
              ([a b & more] [:many a b more]))]
    (is (= :zero (f)))
    (is (= [:one 1] (f 1)))
    (is (= [:two 1 2] (f 1 2)))
    (is (= [:many 1 2 '(3 4)] (f 1 2 3 4)))))

(defn greet
  "A docstring is allowed after the name."
  ([] (greet "world"))
  ([who] (str "hello " who)))

(deftest defn-multi-arity-calls-itself
  (is (= "hello world" (greet)))
  (is (= "hello you" (greet "you"))))

(deftest arity-errors
  (is-thrown? :arity-error ((fn [a] a)))
  (is-thrown? :arity-error ((fn [a] a) 1 2))
  (is-thrown? :arity-error ((fn ([a] a) ([a b c] a)) 1 2))
  (is-thrown? :arity-error ((fn [a b & more] a) 1)))

(deftest named-fn-recursion
  (is (= 3628800 ((fn fact [n] (if (< n 2) 1 (* n (fact (dec n))))) 10)))
  (let [fib (fn fib [n] (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))]
    (is (= 55 (fib 10)))))

(deftest loop-and-recur
  (is (= 45 (loop [i 0 acc 0] (if (< i 10) (recur (inc i) (+ acc i)) acc))))
  (is (= [3 2 1] (loop [n 3 acc []] (if (= n 0) acc (recur (dec n) (conj acc n))))))
  ;; recur in a fn rebinds the parameters.
  (is (= 100 ((fn [n acc] (if (= n 0) acc (recur (dec n) (inc acc)))) 100 0)))
  ;; A loop nested in another loop recurs to the innermost one.
  (is (= 6 (loop [i 0 total 0]
             (if (< i 3)
               (recur (inc i) (+ total (loop [j 0] (if (< j 2) (recur (inc j)) j))))
               total))))
  ;; A loop value used in a non-tail position.
  (is (= 11 (+ 1 (loop [i 0] (if (< i 10) (recur (inc i)) i))))))

(deftest recur-must-be-in-tail-position
  (is-thrown? :syntax-error (eval '(fn [n] (+ 1 (recur n)))))
  (is-thrown? :syntax-error (eval '(loop [a 1] (recur 1 2)))))

(deftest and-or-short-circuit
  (is (= true (and)))
  (is (nil? (or)))
  (is (= 3 (and 1 2 3)))
  (is (nil? (and 1 nil 3)))
  (is (= false (and false nil)))
  (is (= 1 (or 1 2)))
  (is (= 7 (or nil false 7)))
  (is (= false (or nil false)))
  (let [hits (atom 0)]
    (and false (swap! hits inc))
    (or true (swap! hits inc))
    (is (= 0 @hits))
    (and true (swap! hits inc))
    (or nil (swap! hits inc))
    (is (= 2 @hits))))

(deftest try-catch-finally
  (is (= 2 (try (throw 1) (catch e (+ e 1)))))
  (is (= 5 (try 5 (catch e 0))))
  (is (= {:any "value"} (try (throw {:any "value"}) (catch e e))))
  (is (= 3 (try 1 2 3 (catch e :caught))))
  (let [log (atom [])]
    (is (= :body (try :body (finally (swap! log conj :finally)))))
    (is (= [:finally] @log))
    (is (= :caught (try (throw :x) (catch e :caught) (finally (swap! log conj :again)))))
    (is (= [:finally :again] @log))
    ;; finally runs when the error passes through, and the error goes on.
    (is (= :x (try (try (throw :x) (finally (swap! log conj :inner)))
                   (catch e e))))
    (is (= [:finally :again :inner] @log)))
  ;; finally's value is discarded.
  (is (= 1 (try 1 (finally 2)))))

(deftest throw-in-a-called-function-unwinds
  (let [g (fn [] (throw :deep))
        h (fn [] (+ 1 (g)))]
    (is (= [:deep] (try (h) (catch e [e]))))))

(deftest commas-are-whitespace
  (is (= [1 2 3] [1, 2, 3]))
  (is (= {:a 1 :b 2} {:a 1, :b 2}))
  (is (= 6 (+ 1,,, 5)))
  (is (= 3 (count (read-string "[1,2,,,3]")))))

(deftest discard-and-comments
  (is (= [1 3] [1 #_2 3]))
  (is (= [1] [1 #_(this is never read as a call)]))
  (is (= [1 4] [1 #_#_2 3 4]))
  (is (= 3 (+ 1 ; a comment to the end of the line
              2)))
  (is (= 2 (count (read-string "[1 ; 9 9 9\n 2]")))))

(run-tests)
