;; Error values, runtime error types, stack traces, finally ordering and
;; rethrow.
(import "valk/test")

(defn caught [thunk] (try (thunk) (catch e e)))

(deftest error-raises-an-error-value
  (let [e (caught (fn [] (error "boom")))]
    (is (error? e))
    (is (= "boom" (error-message e)))
    (is (nil? (error-data e))))
  (let [e (caught (fn [] (error "with data" {:code 7})))]
    (is (= "with data" (error-message e)))
    (is (= {:code 7} (error-data e)))
    (is (= 7 (:code (error-data e))))))

(deftest ex-info-makes-without-raising
  (let [e (ex-info "made" {:k 1})]
    (is (error? e))
    (is (= "made" (error-message e)))
    (is (= {:k 1} (error-data e)))
    (is (= "made" (ex-message e)))
    (is (= {:k 1} (ex-data e)))
    (is (identical? e (caught (fn [] (throw e)))))))

(deftest error-accessors-on-other-values
  (is (not (error? "boom")))
  (is (not (error? {:message "boom"})))
  (is (not (error? nil)))
  (is (nil? (error-message :x)))
  (is (nil? (error-data 42))))

(deftest error-argument-checks
  (is-thrown? :type-error (error 42))
  (is-thrown? :type-error (error "msg" [1 2])))

(deftest any-value-can-be-thrown
  (is (= 42 (caught (fn [] (throw 42)))))
  (is (= :kw (caught (fn [] (throw :kw)))))
  (is (= {:a [1]} (caught (fn [] (throw {:a [1]})))))
  (is (nil? (caught (fn [] (throw nil))))))

(deftest runtime-error-types
  (is-thrown? :type-error (+ 1 "a"))
  (is-thrown? :type-error (inc nil))
  (is-thrown? :type-error ("not a fn" 1))
  (is-thrown? :type-error (1 2))
  (is-thrown? :arity-error ((fn [a b] a) 1))
  (is-thrown? :unbound-symbol this-symbol-is-not-defined)
  (is-thrown? :unbound-symbol (this-fn-is-not-defined 1))
  (is-thrown? :overflow-error (+ 9223372036854775807 1))
  (is-thrown? :overflow-error (* 4611686018427387904 2))
  (is-thrown? :arithmetic-error (quot 1 0))
  (is-thrown? :arithmetic-error (mod 1 0))
  (is-thrown? :arithmetic-error (/ 1 0)))

(deftest runtime-errors-have-messages
  (let [e (caught (fn [] (+ 9223372036854775807 1)))]
    (is (includes? (error-message e) "overflow")))
  (let [e (caught (fn [] no-such-name-here))]
    (is (includes? (error-message e) "no-such-name-here")))
  (let [e (caught (fn [] ((fn named-thing [a] a))))]
    (is (includes? (error-message e) "named-thing"))))

(defn raise-here []
  (error "traced"))

(defn calls-raise-here []
  (let [v (raise-here)]
    v))

(deftest error-trace-has-positions
  (let [e (caught calls-raise-here)
        trace (error-trace e)]
    (is (vector? trace))
    (is (every? string? trace))
    ;; The innermost frame first: raise-here, at line 66 column 3.
    (is (some (fn [line] (and (includes? line "raise-here")
                              (includes? line "errors_test.lisp:66:3")))
              trace))
    ;; Its caller, with the position of the call (line 69).
    (is (some (fn [line] (and (includes? line "calls-raise-here")
                              (includes? line "errors_test.lisp:69:")))
              trace))
    (is (< (count (take-while (fn [l] (not (includes? l "calls-raise-here"))) trace))
           (count trace)))))

(deftest runtime-errors-carry-traces
  (let [e (caught (fn [] (+ 1 :a)))]
    (is (pos? (count (error-trace e))))
    (is (some (fn [line] (includes? line "errors_test.lisp:")) (error-trace e)))))

(deftest finally-ordering
  (let [log (atom [])
        note (fn [x] (swap! log conj x))]
    (try
      (try
        (note :body)
        (throw :oops)
        (catch e (note [:inner-catch e]) (throw :again))
        (finally (note :inner-finally)))
      (catch e (note [:outer-catch e]))
      (finally (note :outer-finally)))
    (is (= [:body [:inner-catch :oops] :inner-finally [:outer-catch :again] :outer-finally]
           @log))))

(deftest finally-runs-on-normal-return-from-a-function
  (let [log (atom [])
        f (fn [] (try :result (finally (swap! log conj :cleaned))))]
    (is (= :result (f)))
    (is (= [:cleaned] @log))))

(deftest finally-runs-through-several-frames
  (let [log (atom [])
        inner (fn [] (try (error "deep") (finally (swap! log conj :inner))))
        middle (fn [] (try (inner) (finally (swap! log conj :middle))))]
    (is (= "deep" (error-message (caught middle))))
    (is (= [:inner :middle] @log))))

(deftest rethrow-keeps-the-same-error
  (let [original (atom nil)
        e (caught (fn []
                    (try (error "first" {:n 1})
                         (catch e
                           (reset! original e)
                           (throw e)))))]
    (is (identical? @original e))
    (is (= "first" (error-message e)))
    (is (= {:n 1} (error-data e)))))

(deftest error-raised-in-catch-replaces
  (is (= "second"
         (error-message (caught (fn []
                                  (try (error "first")
                                       (catch e (error "second")))))))))

(deftest is-thrown-needs-the-right-type
  ;; A check of the test library itself: the type is compared.
  (is (= :type-error (:type (error-data (caught (fn [] (+ 1 "x"))))))))

;; An operation's error is made in a loop callback, where no fiber runs:
;; it gets the trace of the fiber that awaits it, parked or not.
(defn read-missing [] (await (file/read "/no/such/file")))
(def missing (file/read "/no/such/file/either"))
(defn await-missing [] (await missing))

(deftest an-operation's-error-has-the-trace-of-its-await
  (let [parked (error-trace (try (read-missing) (catch e e)))]
    (is (starts-with? (first parked) "read-missing ("))
    (is (includes? (first parked) "errors_test.lisp:")))
  (await (sleep 10))
  (is (realized? missing))
  (is (starts-with? (first (error-trace (try (await-missing) (catch e e)))) "await-missing (")))

(run-tests)
