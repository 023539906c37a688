;; Destructuring in let, loop and fn (and what expands to them).
(import "valk/test")

(deftest vector-patterns
  (let [[a b] [1 2]] (is (= [1 2] [a b])))
  (let [[a b c] [1 2]] (is (nil? c)))
  (let [[a & more] [1 2 3]] (is (= 1 a)) (is (= '(2 3) more)))
  (let [[a & more] [1]] (is (nil? more)))
  (let [[a :as all] [1 2]] (is (= [1 2] all)))
  (let [[a b] '(1 2)] (is (= 2 b)))
  (let [[a b] "xy"] (is (= "y" b)))
  (let [[a b] nil] (is (nil? a)) (is (nil? b)))
  (let [[_ [x y]] [0 [1 2]]] (is (= 3 (+ x y)))))

(deftest map-patterns
  (let [{a :a b "b"} {:a 1 "b" 2}] (is (= [1 2] [a b])))
  (let [{:keys [x y]} {:x 1 :y 2}] (is (= 3 (+ x y))))
  (let [{:strs [x]} {"x" 1}] (is (= 1 x)))
  (let [{:syms [x]} {'x 1}] (is (= 1 x)))
  (let [{:keys [x y] :or {y 10}} {:x 1}] (is (= 11 (+ x y))))
  (let [{:keys [x] :or {x 10}} {:x nil}] (is (nil? x)))
  (let [{:keys [x] :as m} {:x 1 :z 2}] (is (= {:x 1 :z 2} m)))
  (let [{:keys [user/id]} {:user/id 7}] (is (= 7 id)))
  (let [{:keys [x]} nil] (is (nil? x)))
  (let [{[a b] :pair} {:pair [1 2]}] (is (= 2 b))))

(deftest later-bindings-see-earlier-ones
  (let [[a b] [1 2]
        {:keys [c]} {:c (+ a b)}
        d (* c 2)]
    (is (= 6 d))))

(deftest fn-parameters
  (let [f (fn [[a b] {:keys [c]}] (+ a b c))]
    (is (= 6 (f [1 2] {:c 3}))))
  (let [f (fn [x & {:keys [scale] :or {scale 1}}] (* x scale))]
    (is (= 2 (f 2)))
    (is (= 6 (f 2 :scale 3))))
  (let [f (fn [& [a b]] [a b])]
    (is (= [1 nil] (f 1))))
  (is (= ["a=1" "b=2"] (vec (map (fn [[k v]] (str (name k) "=" v)) {:a 1 :b 2}))))
  (is (= 3 (reduce (fn [acc [_ v]] (+ acc v)) 0 {:a 1 :b 2}))))

(defn area [{:keys [w h] :or {h 1}}] (* w h))

(deftest defn-and-multiple-arities
  (is (= 6 (area {:w 2 :h 3})))
  (is (= 2 (area {:w 2})))
  (let [f (fn ([[a]] a) ([[a] [b]] (+ a b)))]
    (is (= 1 (f [1])))
    (is (= 3 (f [1] [2])))))

(deftest loop-patterns-and-recur
  (is (= 6 (loop [[x & xs] [1 2 3] acc 0]
             (if x (recur xs (+ acc x)) acc))))
  (is (= [3 [1 2]] (loop [[a b] [1 2] n 0]
                     (if (< n 3) (recur [a b] (inc n)) [n [a b]])))))

(deftest doseq-and-for
  (let [seen (atom [])]
    (doseq [[k v] {:a 1 :b 2}]
      (swap! seen conj [k v]))
    (is (= [[:a 1] [:b 2]] @seen)))
  (is (= '(3 7) (for [[a b] [[1 2] [3 4]]] (+ a b)))))

(defmacro add-pair [[a b]] `(+ ~a ~b))

(deftest macros-destructure-their-arguments
  (is (= 3 (add-pair [1 2]))))

(deftest names-used-by-the-expansion-can-be-shadowed
  (let [nth (fn [& _] :shadowed)
        get nth
        [a b] [1 2]
        {:keys [c]} {:c 3}]
    (is (= [1 2 3] [a b c]))))

(deftest bad-patterns-are-syntax-errors
  (is-thrown? :syntax-error (eval '(let [[a &] [1]] a)))
  (is-thrown? :syntax-error (eval '(let [{:keys x} {}] x)))
  (is-thrown? :syntax-error (eval '(let [{:as [a]} {}] a)))
  (is-thrown? :syntax-error (eval '(let [1 2] 1))))

(run-tests)
