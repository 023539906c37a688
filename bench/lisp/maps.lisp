;; Map-heavy work: assoc 10^5 integer keys (spread out, not 0..n) into a
;; persistent map, then get each one back. Prints the sum of the values
;; found plus the map's size.
(def n 100000)

(def m
  (loop [i 0 m {}]
    (if (< i n)
      (recur (inc i) (assoc m (* i 7919) i))
      m)))

(def total
  (loop [i 0 sum 0]
    (if (< i n)
      (recur (inc i) (+ sum (get m (* i 7919))))
      sum)))

(println (+ total (count m)))
