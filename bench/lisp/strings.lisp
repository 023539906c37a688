;; String building: join 10^5 pieces, concatenate onto one growing string
;; 2*10^4 times, and format 10^5 short strings. Prints the total length.
(def n 100000)

(def pieces
  (loop [i 0 v []]
    (if (< i n)
      (recur (inc i) (conj v (str "item" i)))
      v)))
(def joined (join "," pieces))

(def grown
  (loop [i 0 s ""]
    (if (< i 20000)
      (recur (inc i) (str s "ab"))
      s)))

(def formatted
  (loop [i 0 total 0]
    (if (< i n)
      (recur (inc i) (+ total (count (str "k" i "=" (* i 2) ";"))))
      total)))

(println (+ (count joined) (+ (count grown) formatted)))
