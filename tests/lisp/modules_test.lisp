;; import: loads a module once per isolate, resolves relative paths against
;; the importing file, and reports a missing module clearly.
(import "valk/test")

(def module-loads (atom []))

(deftest import-loads-once
  (is (nil? (import "./fixtures/counted")))
  (is (= [:counted] @module-loads))
  (is (= 30 (counted-fn 3)))
  (import "./fixtures/counted")
  (import "./fixtures/counted.lisp")
  (is (= [:counted] @module-loads)))

(deftest relative-imports-resolve-against-the-importing-file
  (reset! module-loads [])
  (import "./fixtures/uses_relative")
  (is (= [:helper :uses-relative] @module-loads))
  (is (= [:helped 1] (uses-helper 1)))
  ;; Already loaded through the other path: not loaded again.
  (import "./fixtures/sub/helper")
  (is (= [:helper :uses-relative] @module-loads)))

(deftest parent-directory-imports
  (import "./fixtures/sub/goes_up")
  (is (= 50 goes-up-result)))

(deftest a-missing-module-is-a-clear-error
  (let [e (try (import "./fixtures/no_such_module") (catch e e))]
    (is (error? e))
    (is (= :import-error (:type (error-data e))))
    (is (includes? (error-message e) "no_such_module")))
  (is-thrown? :import-error (import "valk/no-such-library"))
  (is-thrown? :type-error (import 42)))

(deftest a-module-with-a-read-error
  (let [e (try (import "./fixtures/broken") (catch e e))]
    (is (= :read-error (:type (error-data e))))
    (is (includes? (error-message e) "broken.lisp:3:"))))

(deftest a-module-that-raises-while-loading
  (let [e (try (import "./fixtures/raises") (catch e e))]
    (is (= "raised while loading" (error-message e)))
    (is (= "raises" (:module (error-data e)))))
  ;; It did not load, so importing it again tries again (and raises again).
  (is (= "raised while loading"
         (try (import "./fixtures/raises") :loaded (catch e (error-message e))))))

(deftest a-module-may-await-at-top-level
  (import "./fixtures/awaits")
  (is (= :yes awaited-at-load)))

(deftest standard-library-modules-load
  ;; valk/test is already loaded; importing again is a no-op.
  (is (nil? (import "valk/test")))
  (is (fn? run-tests)))

(run-tests)
