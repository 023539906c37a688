;; Sort 10^5 pseudo-random integers from a deterministic LCG, then fold the
;; sorted sequence into a checksum.
(def n 100000)

(def numbers
  (loop [i 0 x 42 v []]
    (if (< i n)
      (let [x (mod (+ (* x 1103515245) 12345) 2147483648)]
        (recur (inc i) x (conj v x)))
      v)))

(def sorted (sort numbers))

(println (reduce (fn [acc x] (mod (+ (* acc 31) x) 1000000007)) 0 sorted))
