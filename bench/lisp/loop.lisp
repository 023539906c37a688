;; A 10^7-step tail-recursive loop (proper tail calls, constant stack).
(defn go [i acc]
  (if (== i 10000000)
    acc
    (go (inc i) (+ acc i))))

(println (go 0 0))
