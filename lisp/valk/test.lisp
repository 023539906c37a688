;; valk/test: a small assertion library for test suites written in valk.
;;
;;   (import "valk/test")
;;   (deftest addition
;;     (is (= 4 (+ 2 2)))
;;     (is-thrown? :overflow-error (+ 9223372036854775807 1)))
;;   (run-tests)
;;
;; run-tests prints one line per failure and a summary line
;; "N passed, M failed"; if anything failed it raises, so `valk run` exits 1.
;; Test bodies may await.

(def valk.test/registry (atom []))
(def valk.test/current (atom nil))
(def valk.test/failures (atom []))
(def valk.test/checks (atom 0))

(defmacro deftest [name & body]
  `(swap! valk.test/registry conj [~(str name) (fn [] ~@body)]))

(defn valk.test/fail! [message]
  (swap! valk.test/failures conj [(deref valk.test/current) message]))

;; (is form) or (is form message). An (= expected actual) form reports both
;; sides when it fails.
(defmacro is [form & message]
  (let [msg (if (empty? message) (pr-str form) (first message))]
    (if (and (list? form) (= (first form) '=) (= (count form) 3))
      `(let [expected# ~(second form)
             actual# ~(first (rest (rest form)))]
         (swap! valk.test/checks inc)
         (if (= expected# actual#)
           true
           (do (valk.test/fail! (str ~msg "\n    expected: " (pr-str expected#)
                                     "\n    actual:   " (pr-str actual#)))
               false)))
      `(let [result# (try ~form (catch e# (valk.test/fail! (str ~msg " raised "
                                                               (if (error? e#)
                                                                 (error-message e#)
                                                                 (pr-str e#))))
                                         :valk.test/raised))]
         (swap! valk.test/checks inc)
         (cond
           (= result# :valk.test/raised) false
           result# true
           :else (do (valk.test/fail! (str ~msg " was " (pr-str result#))) false))))))

;; (is-thrown? :type form): form must raise an error whose data has that
;; :type (or, for a non-keyword first argument, raise a value equal to it).
(defmacro is-thrown? [expected form]
  `(let [outcome# (try (do ~form :valk.test/returned)
                       (catch e# e#))]
     (swap! valk.test/checks inc)
     (cond
       (= outcome# :valk.test/returned)
       (do (valk.test/fail! (str ~(pr-str form) " did not raise")) false)
       (if (keyword? ~expected)
         (and (error? outcome#) (= ~expected (:type (error-data outcome#))))
         (= ~expected outcome#))
       true
       :else
       (do (valk.test/fail! (str ~(pr-str form) " raised " (pr-str outcome#)
                                 (if (error? outcome#) (str " " (error-message outcome#)) "")
                                 ", expected " (pr-str ~expected)))
           false))))

(defn run-tests []
  (let [tests (deref valk.test/registry)]
    (doseq [t tests]
      (reset! valk.test/current (first t))
      (let [before (count (deref valk.test/failures))]
        (try
          ((second t))
          (catch e
            (valk.test/fail! (str "uncaught "
                                  (if (error? e)
                                    (str (error-message e) " " (pr-str (error-data e))
                                         "\n      " (join "\n      " (error-trace e)))
                                    (pr-str e))))))
        (let [new-failures (drop before (deref valk.test/failures))]
          (doseq [f new-failures] (println (str "FAIL " (first f) ": " (second f)))))))
    (let [failed (count (set (map first (deref valk.test/failures))))
          passed (- (count tests) failed)]
      (println (str passed " passed, " failed " failed"))
      (when (> failed 0)
        (error (str failed " of " (count tests) " tests failed") {:type :test-failure})))))
