;; Fibers and promises: spawn await sleep all race timeout cancel,
;; awaiting inside higher-order functions, and preemption.
(import "valk/test")

(defn rejection [p] (try (await p) :not-rejected (catch e e)))

(deftest spawn-and-await
  (let [p (spawn (fn [] 42))]
    (is (promise? p))
    (is (= 42 (await p)))
    (is (realized? p))
    (is (= 42 @p)))
  (is (= 7 (await 7)))
  (is (nil? (await nil)))
  (is (not (promise? 1))))

(deftest a-spawned-fiber-runs-later
  (let [log (atom [])
        p (spawn (fn [] (swap! log conj :fiber)))]
    (swap! log conj :spawner)
    (await p)
    (is (= [:spawner :fiber] @log))))

(deftest errors-reject-the-promise
  (let [p (spawn (fn [] (error "in fiber" {:n 1})))
        e (rejection p)]
    (is (error? e))
    (is (= "in fiber" (error-message e)))
    (is (= {:n 1} (error-data e))))
  (is (= :thrown (rejection (spawn (fn [] (throw :thrown)))))))

(deftest sleep-orders-wakeups
  (let [log (atom [])
        ps (mapv (fn [ms] (spawn (fn [] (await (sleep ms)) (swap! log conj ms))))
                 [30 10 20])]
    (await (all ps))
    (is (= [10 20 30] @log))))

(deftest sleep-resolves-to-nil
  (is (nil? (await (sleep 1))))
  (is (nil? (await (sleep 0))))
  (is-thrown? :type-error (sleep -1))
  (is-thrown? :type-error (sleep "10")))

(deftest all-collects-in-order
  (is (= [1 2 3] (await (all [(spawn (fn [] (await (sleep 20)) 1))
                              (spawn (fn [] 2))
                              (spawn (fn [] (await (sleep 5)) 3))]))))
  (is (= [] (await (all []))))
  (is (= [:a] (await (all (list (spawn (fn [] :a)))))))
  (is (= "bad" (error-message (rejection (all [(spawn (fn [] (await (sleep 50)) 1))
                                               (spawn (fn [] (error "bad")))]))))))

(deftest race-takes-the-first
  (is (= :fast (await (race [(spawn (fn [] (await (sleep 50)) :slow))
                             (spawn (fn [] (await (sleep 1)) :fast))]))))
  (is (= :first-error (rejection (race [(spawn (fn [] (await (sleep 50)) :slow))
                                        (spawn (fn [] (throw :first-error)))])))))

(deftest timeout-rejects-a-slow-promise
  (let [e (rejection (timeout 5 (sleep 1000)))]
    (is (error? e))
    (is (= :timeout (:type (error-data e)))))
  (is (= :quick (await (timeout 1000 (spawn (fn [] (await (sleep 1)) :quick))))))
  (is (= :done (await (timeout 10 (spawn (fn [] :done)))))))

(deftest cancel-a-sleeping-fiber
  (let [log (atom [])
        p (spawn (fn []
                   (try
                     (swap! log conj :started)
                     (await (sleep 10000))
                     (swap! log conj :not-reached)
                     (finally (swap! log conj :finally)))))]
    (await (sleep 5))
    (cancel p)
    (let [e (rejection p)]
      (is (error? e))
      (is (= :cancelled (:type (error-data e)))))
    (is (= [:started :finally] @log))))

(deftest cancel-runs-nested-finally-blocks-in-order
  (let [log (atom [])
        p (spawn (fn []
                   (try
                     (try
                       (await (sleep 10000))
                       (finally (swap! log conj :inner)))
                     (finally (swap! log conj :outer)))))]
    (await (sleep 1))
    (cancel p)
    (rejection p)
    (is (= [:inner :outer] @log))))

(deftest cancel-a-timer
  (let [s (sleep 10000)]
    (cancel s)
    (is (= :cancelled (:type (error-data (rejection s)))))))

(deftest cancel-of-a-settled-promise-does-nothing
  (let [p (spawn (fn [] :v))]
    (await p)
    (cancel p)
    (is (= :v (await p)))))

(deftest a-cancelled-fiber-can-catch-and-go-on
  (let [p (spawn (fn []
                   (try (await (sleep 10000))
                        (catch e [:caught (:type (error-data e))]))))]
    (await (sleep 1))
    (cancel p)
    (is (= [:caught :cancelled] (await p)))))

(deftest await-inside-higher-order-functions
  (let [slow-inc (fn [x] (await (sleep 1)) (inc x))
        slow-even? (fn [x] (await (sleep 1)) (even? x))]
    (is (= [2 3 4] (map slow-inc [1 2 3])))
    (is (= [2 3] (mapv slow-inc [1 2])))
    (is (= [2 4] (filter slow-even? [1 2 3 4])))
    (is (= [1 3] (remove slow-even? [1 2 3])))
    (is (= 10 (reduce (fn [acc x] (await (sleep 1)) (+ acc x)) 0 [1 2 3 4])))
    (is (= ["a" "bb" "ccc"] (sort-by (fn [s] (await (sleep 1)) (count s)) ["ccc" "a" "bb"])))
    (is (= [3 2 1] (sort (fn [a b] (await (sleep 1)) (> a b)) [1 3 2])))
    (is (= true (some slow-even? [1 2])))
    (is (every? (fn [x] (await (sleep 1)) (pos? x)) [1 2]))
    (is (= 6 (apply (fn [& xs] (await (sleep 1)) (reduce + xs)) [1 2 3])))
    (is (= {:a 2} (update {:a 1} :a slow-inc)))
    (is (= [[1 2]] (for [x [1] y [(slow-inc x)]] [x y])))
    (let [a (atom 1)]
      (swap! a slow-inc)
      (is (= 2 @a)))))

(deftest await-inside-map-runs-concurrently-with-other-fibers
  (let [log (atom [])
        other (spawn (fn [] (swap! log conj :other)))]
    (map (fn [x] (await (sleep 5)) (swap! log conj x)) [1 2])
    (await other)
    (is (= [:other 1 2] @log))))

(deftest a-fiber-that-never-awaits-is-preempted
  (let [flag (atom false)
        busy (spawn (fn []
                      (loop [i 0]
                        (cond
                          @flag [:saw-flag-after i]
                          (< i 100000000) (recur (inc i))
                          :else [:never-saw-flag i]))))
        _ (spawn (fn [] (reset! flag true)))
        result (await busy)]
    (is (= :saw-flag-after (first result)))))

(deftest a-busy-fiber-does-not-starve-sleeping-ones
  ;; The loop must keep polling timers while a fiber is preempted again and
  ;; again, so the sleeping fiber wakes and sets the flag.
  (let [flag (atom false)
        busy (spawn (fn []
                      (loop [i 0]
                        (cond
                          @flag :saw-flag
                          (< i 20000000) (recur (inc i))
                          :else :starved))))]
    (spawn (fn [] (await (sleep 1)) (reset! flag true)))
    (is (= :saw-flag (await busy)))))

(def gc-stress? (some? (getenv "VALK_GC_STRESS")))

(deftest fibers-that-keep-switching-do-not-starve-timers
  ;; Every slice here is short (spawn, await, resume), so the loop is polled
  ;; only once enough of them have run; the timer must still fire.
  (let [flag (atom false)
        pinger (spawn (fn []
                        (loop [i 0]
                          (cond
                            @flag [:saw-flag i]
                            (< i 50000000) (recur (+ i (await (spawn (fn [] 1)))))
                            :else [:starved i]))))]
    (spawn (fn [] (await (sleep 1)) (reset! flag true)))
    (is (= :saw-flag (first (await pinger))))))

(deftest many-fibers-sleep-concurrently
  ;; The GC stress mode collects at every allocation, which makes timing
  ;; meaningless and 10000 fibers slow: it checks the same with fewer.
  (let [n (if gc-stress? 1000 10000)
        start (now-ms)
        ps (mapv (fn [i] (spawn (fn [] (await (sleep 200)) i))) (range n))
        results (await (all ps))
        elapsed (- (now-ms) start)]
    (is (= n (count results)))
    (is (= (range n) results))
    ;; One after another they would take 2000 seconds.
    (when-not gc-stress?
      (is (< elapsed 3000) (str n " sleeps of 200 ms took " elapsed " ms")))))

(deftest fibers-communicate-through-atoms
  (let [box (atom nil)
        consumer (spawn (fn []
                          (loop [tries 0]
                            (if-let [v @box]
                              [:got v tries]
                              (do (await (sleep 1)) (recur (inc tries)))))))]
    (await (sleep 10))
    (reset! box :msg)
    (is (= :msg (second (await consumer))))))

(deftest nested-spawns
  (is (= 6 (await (spawn (fn []
                           (+ 1 (await (spawn (fn []
                                                (+ 2 (await (spawn (fn [] 3))))))))))))))

(deftest spawn-needs-a-function
  (is (= :type-error (:type (error-data (rejection (spawn 42)))))))

(run-tests)
