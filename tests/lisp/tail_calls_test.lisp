;; Proper tail calls: calls in tail position reuse the frame, so loops
;; written as recursion run in constant stack. Runaway non-tail recursion
;; is a catchable :stack-overflow error.
(import "valk/test")

(defn count-down [n]
  (if (= n 0) :done (count-down (dec n))))

(defn sum-to [n acc]
  (if (= n 0) acc (sum-to (dec n) (+ acc n))))

(declare my-odd?)
(defn my-even? [n] (if (= n 0) true (my-odd? (dec n))))
(defn my-odd? [n] (if (= n 0) false (my-even? (dec n))))

(deftest ten-million-tail-calls
  (is (= :done (count-down 10000000))))

(deftest tail-recursive-accumulator
  (is (= 500000500000 (sum-to 1000000 0))))

(deftest mutual-recursion
  (is (= true (my-even? 1000000)))
  (is (= false (my-odd? 1000000)))
  (is (= true (my-odd? 1000001))))

(defn via-cond [n]
  (cond
    (= n 0) :cond
    (odd? n) (via-cond (dec n))
    :else (via-cond (dec n))))

(defn via-let-do-when [n]
  (let [m (dec n)]
    (do
      (when true
        (if (< m 0) :let (via-let-do-when m))))))

(defn via-and-or [n]
  (or (and (= n 0) :and-or)
      (via-and-or (dec n))))

(defn via-case [n]
  (case (mod n 2)
    0 (if (= n 0) :case (via-case (dec n)))
    1 (via-case (dec n))))

(deftest tail-position-inside-forms
  (is (= :cond (via-cond 1000000)))
  (is (= :let (via-let-do-when 1000000)))
  (is (= :and-or (via-and-or 1000000)))
  (is (= :case (via-case 1000000))))

(deftest tail-call-through-apply-and-closures
  (let [bounce (fn bounce [n] (if (= n 0) :applied (apply bounce [(dec n)])))]
    (is (= :applied (bounce 1000000)))))

(deftest loop-recur-a-million
  (is (= 1000000 (loop [i 0] (if (< i 1000000) (recur (inc i)) i)))))

(defn runaway [n] (+ 1 (runaway n)))

(deftest runaway-recursion-is-an-error
  (is-thrown? :stack-overflow (runaway 1))
  ;; The fiber is fine afterwards.
  (is (= :done (count-down 100)))
  (let [e (try (runaway 1) (catch e e))]
    (is (error? e))
    (is (string? (error-message e)))))

(defn depth [n] (if (= n 0) 0 (+ 1 (depth (dec n)))))

(deftest deep-but-bounded-recursion-works
  (is (= 10000 (depth 10000))))

(run-tests)
