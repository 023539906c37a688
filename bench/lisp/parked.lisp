;; Memory of a parked fiber: spawn N fibers (default 10^5; the first
;; command-line argument overrides) that all await one pending promise,
;; let them run to their await, and compare the heap's live bytes before and
;; after. run.sh also compares the process's peak RSS for N and for 0.
;;
;; Prints: fibers N heap-bytes B bytes-per-fiber B/N
(def n (if (first *command-line-args*)
         (read-string (first *command-line-args*))
         100000))

;; A promise that stays pending while we measure.
(def gate (sleep 60000))

(defn spawn-waiters [n]
  (loop [i 0]
    (when (< i n)
      (spawn (fn [] (await gate)))
      (recur (inc i)))))

(def before (:bytes-live (heap-stats)))
(spawn-waiters n)
;; Parks this fiber until a timer fires: by then every waiter has run up to
;; its await and parked.
(await (sleep 0))
(def after (:bytes-live (heap-stats)))

(println "fibers" n "heap-bytes" (- after before)
         "bytes-per-fiber" (if (> n 0) (quot (- after before) n) 0))
(cancel gate)
