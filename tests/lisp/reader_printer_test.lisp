;; The printer's output reads back: (read-string (pr-str x)) is x for every
;; readable value.
(import "valk/test")

(defn round-trips? [x] (= x (read-string (pr-str x))))

(deftest scalars-round-trip
  (doseq [x [nil true false 0 1 -1 42
             9223372036854775807 -9223372036854775808
             1.5 -2.25 0.1 1.0 100.0 1e100 1.0E-10 6.02214076E23
             ##Inf ##-Inf
             "" "plain" "quote \" backslash \\ newline \n tab \t return \r"
             "unicode: café λ 日本 😀" "\u0001 control"
             'sym 'with-dash? 'ns/name '+ 'λ
             :kw :ns/kw :a-b? ]]
    (is (round-trips? x) (str "round trip of " (pr-str x)))))

(deftest types-survive-the-round-trip
  (is (int? (read-string (pr-str 1))))
  (is (double? (read-string (pr-str 1.0))))
  (is (double? (read-string (pr-str 1e100))))
  (is (string? (read-string (pr-str "1"))))
  (is (symbol? (read-string (pr-str 'a))))
  (is (keyword? (read-string (pr-str :a))))
  (is (NaN? (read-string (pr-str ##NaN)))))

(deftest collections-round-trip
  (doseq [x ['() '(1 2 3) [] [1 [2 [3]]] {} {:a 1 "b" [2] 3 {:c #{4}}}
             #{} #{1 "two" :three [4]}
             '(quote x) '(fn [a & more] (+ a 1))
             {nil nil true false}
             [1.5 "s" :k 'sym nil]]]
    (is (round-trips? x) (str "round trip of " (pr-str x))))
  (is (vector? (read-string (pr-str [1]))))
  (is (list? (read-string (pr-str '(1)))))
  (is (set? (read-string (pr-str #{1}))))
  (is (map? (read-string (pr-str {1 2})))))

(deftest large-structures-round-trip
  (let [v (vec (range 1000))
        m (zipmap (map str (range 200)) (range 200))]
    (is (round-trips? v))
    (is (round-trips? m))))

(deftest printed-forms
  (is (= "nil" (pr-str nil)))
  (is (= "\"a\\nb\"" (pr-str "a\nb")))
  (is (= "[1 \"a\" :b c]" (pr-str [1 "a" :b 'c])))
  (is (= "(1 2)" (pr-str '(1 2))))
  (is (= "()" (pr-str '())))
  (is (= "{:a 1}" (pr-str {:a 1})))
  (is (= "#{1}" (pr-str #{1})))
  (is (= "1.5" (pr-str 1.5)))
  (is (= "2.0" (pr-str 2.0)))
  (is (= "##Inf" (pr-str ##Inf)))
  (is (= "\"a\" 1" (pr-str "a" 1)))
  (is (= "" (pr-str)))
  (is (= "a" (str "a")))
  (is (= "#<atom 1>" (pr-str (atom 1))))
  (is (starts-with? (pr-str (fn named [] 1)) "#<fn"))
  (is (includes? (pr-str (fn named [] 1)) "named"))
  (is (starts-with? (pr-str (ex-info "m" {})) "#<error")))

(deftest reader-macros
  (is (= '(quote a) (read-string "'a")))
  (is (= '(deref a) (read-string "@a")))
  (is (= '(syntax-quote a) (read-string "`a")))
  (is (= '(unquote a) (read-string "~a")))
  (is (= '(unquote-splicing a) (read-string "~@a")))
  (is (= "a" (read-string "\\a")))
  (is (= " " (read-string "\\space")))
  (is (= "é" (read-string "\\u00e9")))
  (is (= [1 3] (read-string "[1 #_2 3]")))
  (is (= 3 (#(+ % %2) 1 2)))
  (is (= [1 '(2 3)] (#(vector %1 %&) 1 2 3)))
  (is (= 255 (read-string "0xff")))
  (is (= -5 (read-string "-5")))
  (is (= 1 (read-string "1 2 3"))))

(deftest read-errors
  (is-thrown? :read-error (read-string "(1 2"))
  (is-thrown? :read-error (read-string "[1 2)"))
  (is-thrown? :read-error (read-string "\"unterminated"))
  (is-thrown? :read-error (read-string "{:a}"))
  (is-thrown? :read-error (read-string "#{1 1}"))
  (is-thrown? :read-error (read-string "99999999999999999999"))
  (let [e (try (read-string "[1\n  )") (catch e e))]
    (is (includes? (error-message e) "2:3"))))

(deftest read-string-of-nothing
  (is (nil? (read-string "")))
  (is (nil? (read-string "  ; only a comment"))))

(deftest eval-of-read-forms
  (is (= 3 (eval (read-string "(+ 1 2)"))))
  (is (= 3 (eval '(+ 1 2))))
  (is (= [2 3] (eval (list 'mapv 'inc [1 2])))))

(run-tests)
