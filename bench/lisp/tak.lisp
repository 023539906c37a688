;; Takeuchi function: deep non-tail recursion with three arguments.
;; tak(18, 12, 6) makes 63 609 calls; it runs 800 times (about 45 million calls).
(defn tak [x y z]
  (if (< y x)
    (tak (tak (- x 1) y z) (tak (- y 1) z x) (tak (- z 1) x y))
    z))

(println
 (loop [i 0 sum 0]
   (if (< i 800)
     (recur (inc i) (+ sum (tak 18 12 (+ 6 (mod i 2)))))
     sum)))
