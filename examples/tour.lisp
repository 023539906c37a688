;; A first valk program: data, functions, errors and fibers.
;; Run it with: build/valk run examples/tour.lisp

(defn greet [who] (str "Hello, " who "!"))

(println (greet "valk"))

;; Immutable data: assoc returns a new map.
(def user {:name "Ada" :langs ["Lisp" "C++"]})
(println (pr-str (assoc user :admin true)))

;; Errors carry a message, data and a stack trace.
(println (try
           (error "not found" {:status 404})
           (catch e (str "caught: " (error-message e) " " (:status (error-data e))))))

;; Fibers: three sleeps of 50 ms run concurrently, so this takes ~50 ms.
(defn slow-square [n]
  (spawn (fn [] (await (sleep 50)) (* n n))))

(let [start (now-ms)
      squares (await (all [(slow-square 1) (slow-square 2) (slow-square 3)]))]
  (println "squares:" (pr-str squares) "in about" (* 50 (quot (+ (- (now-ms) start) 25) 50)) "ms"))
