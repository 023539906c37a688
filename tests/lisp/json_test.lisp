;; json/parse and json/write (builtins_json.cc over json.cc).
(import "valk/test")

(deftest parse-values
  (is (= nil (json/parse "null")))
  (is (= true (json/parse "true")))
  (is (= false (json/parse "false")))
  (is (= 42 (json/parse " 42 ")))
  (is (= -9223372036854775808 (json/parse "-9223372036854775808")))
  (is (= 1.5 (json/parse "1.5")))
  (is (= 100.0 (json/parse "1e2")))
  (is (= "héllo 😀" (json/parse "\"h\\u00e9llo \\ud83d\\ude00\"")))
  (is (= [1 [2 []] {}] (json/parse "[1, [2, []], {}]")))
  (is (= {:a 1 :b [true nil]} (json/parse "{\"a\": 1, \"b\": [true, null]}")))
  (is (= {:a 3} (json/parse "{\"a\": 1, \"a\": 3}"))))

(deftest numbers-keep-their-kind
  ;; Integral literals are ints while they fit, doubles past int64.
  (is (int? (json/parse "9223372036854775807")))
  (is (double? (json/parse "9223372036854775808")))
  (is (double? (json/parse "1.0")))
  (is (not= 1 (json/parse "1.0")))
  (is (= "1.0" (json/write 1.0)))
  (is (= "[1,2.5,-0.0]" (json/write [1 2.5 -0.0]))))

(deftest keyword-or-string-keys
  (is (= {"a" {"b" 1}} (json/parse "{\"a\": {\"b\": 1}}" {:keywordize false})))
  (is (= {:a {:b 1}} (json/parse "{\"a\": {\"b\": 1}}" {:keywordize true})))
  (is (= 1 (:id (json/parse "{\"id\": 1}"))))
  (is (= 1 (get (json/parse "{\"a b\": 1}") (keyword "a b")))))

(deftest parse-errors-have-positions
  (is-thrown? :json-error (json/parse "[1, 2,]"))
  (is-thrown? :json-error (json/parse "{\"a\": 1,}"))
  (is-thrown? :json-error (json/parse "// no\n1"))
  (is-thrown? :json-error (json/parse "01"))
  (is-thrown? :json-error (json/parse "NaN"))
  (is-thrown? :json-error (json/parse "\"\\ud800\""))
  (is-thrown? :json-error (json/parse ""))
  (is-thrown? :json-error (json/parse "[[1]]" {:max-depth 1}))
  (is-thrown? :type-error (json/parse 42))
  (let [e (try (json/parse "{\n  \"a\": 1\n  \"b\": 2}") (catch e e))]
    (is (= "json/parse: unexpected '\"', expected ',' or '}' after object member at 3:3"
           (error-message e)))
    (is (= 3 (:line (error-data e))))
    (is (= 3 (:column (error-data e))))
    (is (= :json-error (:type (error-data e))))))

(deftest deep-nesting-is-an-error-not-a-crash
  (let [deep (loop [i 0 acc ""] (if (< i 600) (recur (inc i) (str "[" acc "]")) acc))]
    (is-thrown? :json-error (json/parse deep))
    (is (= 513 (:column (try (json/parse deep) (catch e (error-data e))))))))

(deftest write-values
  (is (= "null" (json/write nil)))
  (is (= "[true,false]" (json/write [true false])))
  (is (= "\"a\\\"b\\\\c\\n\\u0001\"" (json/write "a\"b\\c\n\u0001")))
  (is (= "\"é😀\"" (json/write "é😀")))
  (is (= "{\"a\":1,\"b\":[1,2],\"c\":\"kw\"}" (json/write {:a 1 "b" '(1 2) :c :kw})))
  (is (= "[1]" (json/write #{1})))
  (is (= "{\"1\":2}" (json/write {1 2})))
  (is (= "\"<\\/script>\"" (json/write "</script>" {:escape-slash true})))
  (is (= "{\n  \"a\": [\n    1,\n    2\n  ]\n}" (json/write {:a [1 2]} {:pretty true}))))

(deftest write-errors-name-the-type-and-place
  (is-thrown? :json-error (json/write (atom 1)))
  (is-thrown? :json-error (json/write inc))
  (is-thrown? :json-error (json/write [##NaN]))
  (is-thrown? :json-error (json/write ##Inf))
  (is (= "json/write: cannot write a value of type atom as JSON (at [:users 1 :a])"
         (try (json/write {:users [{} {:a (atom 1)}]}) (catch e (error-message e))))))

(deftest round-trips
  (doseq [v [nil 0 -1 1.25 "" "x\ny" [] {} [1 [2 [3]]] {:a {:b {:c [nil true false]}}}
             {:é "ü" :k1 1 :k2 2 :k3 3 :k4 4 :k5 5 :k6 6 :k7 7 :k8 8 :k9 9}]]
    (is (= v (json/parse (json/write v))))
    (is (= v (json/parse (json/write v {:pretty true}))))))

(run-tests)
