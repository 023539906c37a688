;; Shared store operations from one isolate, one thread, uncontended: the
;; time per call of store/put!, store/get, store/incr! and store/swap! on a
;; small map, beside an atom's swap! and the empty loop.
;;   build/valk run bench/store/ops.lisp
(def v {:id 1 :title "write docs" :done false})
(def n 200000)
(store/put! :k v)

(defn bench [label f]
  (let [t0 (now-ms)]
    (dotimes [i n] (f i))
    (println (str label "\t" (/ (* 1000000.0 (- (now-ms) t0)) n) " ns"))))

(bench "empty loop" (fn [i] nil))
(bench "store/put! (3-entry map)" (fn [i] (store/put! :k v)))
(bench "store/get (3-entry map)" (fn [i] (store/get :k)))
(bench "store/incr!" (fn [i] (store/incr! :n)))
(bench "store/swap! inc" (fn [i] (store/swap! :m (fnil inc 0))))
(let [a (atom 0)] (bench "atom swap! inc" (fn [i] (swap! a inc))))
