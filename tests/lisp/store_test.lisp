;; The shared store: store/get put! delete! incr! swap! keys clear!, what
;; it takes as keys and values, expiry, and swap! under contention from
;; fibers. (Workers on several threads: tests/unit/lisp/shared_store_test.cc
;; and examples/todos.lisp's tests.)
(import "valk/test")

(store/clear!)

(defn raised [f] (try (f) :not-raised (catch e (error-message e))))

;; Sleeps until (now-ms) reaches t: a sleep counts from the loop's clock,
;; which may be behind when a slow (collector stress) run calls it.
(defn sleep-until [t]
  (when (< (now-ms) t)
    (await (sleep 5))
    (sleep-until t)))

(deftest values-come-back-as-they-went-in
  (let [v {:s "héllo" :i -7 :d 2.5 :b true :n nil :k :kw :sym 'a/b
           :v [1 [2 #{3 "x"}]] :l (list 1 2) "string key" {1 2}}]
    (is (= v (store/put! :all v)))
    (is (= v (store/get :all)))
    ;; Bytes are equal only to themselves; their contents come back.
    (store/put! :all (assoc v :bytes (string->bytes "ab")))
    (is (= (list 1 2) (:l (store/get :all))))
    (is (vector? (:v (store/get :all))))
    (is (= "ab" (bytes->string (:bytes (store/get :all)))))))

(deftest keys-are-strings-keywords-or-integers
  (store/put! "k" 1)
  (store/put! :k 2)
  (store/put! 7 3)
  (is (= [1 2 3] [(store/get "k") (store/get :k) (store/get 7)]) "distinct keys")
  (is (nil? (store/get "absent")))
  (is (= :default (store/get "absent" :default)))
  (is (= "store/get: expected a key (a string, keyword or integer), got vector"
         (raised #(store/get [1]))))
  (is (= "store/put!: expected a key (a string, keyword or integer), got double"
         (raised #(store/put! 1.5 1)))))

(deftest only-data-is-stored
  (is (= "store/put!: only data can be stored, not a function (nil, booleans, numbers, strings, keywords, symbols, bytes and collections of them)"
         (raised #(store/put! :f inc))))
  (is (includes? (raised #(store/put! :a {:x [(atom 1)]})) "not a atom"))
  (is (nil? (store/get :a)) "nothing half stored")
  (is (includes? (raised #(store/put! :deep (reduce (fn [acc _] [acc]) 1 (range 300))))
                 "nesting deeper than 256")))

(deftest a-value-read-is-a-copy
  (store/put! :m {:n 1})
  (let [m (store/get :m)]
    ;; Each read makes the value anew in the reader's heap (data is
    ;; immutable, so this is the one way a shared object would show).
    (is (not (identical? m (store/get :m))))
    (store/put! :m {:n 2})
    (is (= {:n 1} m))
    (is (= {:n 2} (store/get :m)))))

(deftest put-nil-and-delete-remove
  (store/put! :gone 1)
  (is (nil? (store/put! :gone nil)))
  (is (= :none (store/get :gone :none)))
  (store/put! :gone 1)
  (is (true? (store/delete! :gone)))
  (is (false? (store/delete! :gone))))

(deftest incr-counts-from-zero
  (is (= 1 (store/incr! :count)))
  (is (= 11 (store/incr! :count 10)))
  (is (= 8 (store/incr! :count -3)))
  (store/put! :text "x")
  (is (= "store/incr!: the value at :text is not an integer" (raised #(store/incr! :text))))
  (store/put! :big 9223372036854775807)
  (is (= "store/incr!: integer overflow" (raised #(store/incr! :big))))
  (is (= "store/incr!: expected an integer, got string" (raised #(store/incr! :count "1")))))

(deftest entries-expire
  (store/put! :short "soon gone" {:ttl-ms 300})
  (is (= 1 (store/incr! :window 1 {:ttl-ms 300})))
  (is (= 2 (store/incr! :window 1 {:ttl-ms 300})) "the ttl is the first write's")
  (def written (now-ms))  ; after every write above
  (is (= "soon gone" (store/get :short)))
  (sleep-until (+ written 310))
  (is (nil? (store/get :short)))
  (is (= 1 (store/incr! :window)) "a new window")
  (is (not (some #{:short} (store/keys))))
  (is (= "store/put!: expected a :ttl-ms of a positive integer, got int"
         (raised #(store/put! :x 1 {:ttl-ms 0}))))
  (is (= "store/put!: expected an options map of :ttl-ms, got map"
         (raised #(store/put! :x 1 {:ttl 5})))))

(deftest swap-applies-a-function-atomically
  (is (= [1] (store/swap! :list (fnil conj []) 1)))
  (is (= [1 2 3] (store/swap! :list conj 2 3)))
  (is (nil? (store/swap! :list (constantly nil))) "nil removes")
  (is (= :none (store/get :list :none)))
  ;; Fibers that await inside f interleave: each retries on a change.
  (store/put! :n 0)
  (let [tries (atom 0)]
    (await (all (map (fn [_]
                       (spawn #(store/swap! :n (fn [n] (swap! tries inc) (await (sleep 1)) (inc n)))))
                     (range 20))))
    (is (= 20 (store/get :n)))
    (is (< 20 @tries) "some ran again")))

(deftest keys-and-clear
  (store/clear!)
  (store/put! "a" 1)
  (store/put! :b 2)
  (is (= #{"a" :b} (set (store/keys))))
  (store/clear!)
  (is (= [] (store/keys))))
(run-tests)
