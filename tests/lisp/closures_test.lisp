;; Closures capture their lexical environment by value of the binding; state
;; that changes goes through atoms.
(import "valk/test")

(defn make-adder [n] (fn [x] (+ x n)))

(defn make-counter []
  (let [n (atom 0)]
    {:inc (fn [] (swap! n inc))
     :get (fn [] @n)}))

(deftest capture-a-parameter
  (let [add2 (make-adder 2) add10 (make-adder 10)]
    (is (= 5 (add2 3)))
    (is (= 13 (add10 3)))
    (is (= 4 (add2 (add2 0))))))

(deftest capture-let-bindings-at-several-levels
  (is (= 6 (let [a 1]
             (let [f (fn [b] (fn [c] (+ a b c)))]
               ((f 2) 3)))))
  (is (= 3 (let [x 1 f (fn [] (let [y 2] (fn [] (+ x y))))] ((f))))))

(deftest counters-are-independent
  (let [c1 (make-counter) c2 (make-counter)]
    ((:inc c1))
    ((:inc c1))
    ((:inc c2))
    (is (= 2 ((:get c1))))
    (is (= 1 ((:get c2))))))

(deftest closures-made-in-a-loop-capture-each-value
  (let [fs (loop [i 0 acc []]
             (if (< i 3) (recur (inc i) (conj acc (fn [] i))) acc))]
    (is (= [0 1 2] (mapv (fn [f] (f)) fs))))
  (let [fs (map (fn [i] (fn [] (* i i))) [1 2 3])]
    (is (= [1 4 9] (mapv (fn [f] (f)) fs)))))

(deftest shadowing-inside-a-closure
  (let [x 1
        f (fn [x] x)
        g (fn [] x)]
    (is (= 5 (f 5)))
    (is (= 1 (g)))))

(deftest a-closure-sees-later-redefinitions-of-globals
  (def closure-global 1)
  (let [f (fn [] closure-global)]
    (is (= 1 (f)))
    (def closure-global 2)
    (is (= 2 (f)))))

(deftest captured-self-name
  (let [countdown (fn down [n acc]
                    (if (= n 0)
                      acc
                      ((fn [] (down (dec n) (conj acc n))))))]
    (is (= [3 2 1] (countdown 3 [])))))

(deftest closures-as-values
  (let [compose2 (fn [f g] (fn [x] (f (g x))))
        inc-then-double (compose2 (fn [x] (* 2 x)) inc)]
    (is (= 8 (inc-then-double 3))))
  (is (= [2 3 4] (mapv (make-adder 1) [1 2 3])))
  (is (= 10 (reduce (fn [acc f] (f acc)) 0 [(make-adder 1) (make-adder 2) (make-adder 7)]))))

(deftest closure-over-loop-variable-in-nested-fn
  (let [adders (for [i [1 2 3]] (fn [x] (+ x i)))]
    (is (= [11 12 13] (mapv (fn [f] (f 10)) adders)))))

(run-tests)
