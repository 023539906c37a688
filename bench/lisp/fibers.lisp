;; Fiber ping-pong: 10^6 times, spawn a fiber and await its result. Each
;; round is two switches: the waiting fiber parks and the new one runs, then
;; it returns and the waiter resumes. Prints the sum of the results, then a
;; line with the switch count and the loop's own time for run.sh.
(def n 1000000)

(defn ping-pong [n]
  (loop [i 0 sum 0]
    (if (< i n)
      (recur (inc i) (+ sum (await (spawn (fn [] i)))))
      sum)))

(def start (now-ms))
(def result (await (spawn (fn [] (ping-pong n)))))
(def elapsed (- (now-ms) start))

(println result)
(println "switches" (* 2 n) "ms" elapsed)
