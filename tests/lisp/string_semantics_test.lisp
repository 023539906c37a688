;; Immutable UTF-8 strings: count and subs work in code points; the string
;; functions follow Clojure's argument order.
(import "valk/test")

(deftest str-concatenates
  (is (= "" (str)))
  (is (= "ab1:k" (str "a" "b" 1 :k)))
  (is (= "a" (str "a" nil)))
  (is (= "[1 2]" (str [1 2])))
  (is (= "true" (str true)))
  (is (= "sym" (str 'sym)))
  (is (= "{:a \"x\"}" (str {:a "x"}))))

(deftest utf8-count-and-subs
  (is (= 5 (count "hello")))
  (is (= 0 (count "")))
  (is (= 4 (count "café")))
  (is (= 1 (count "λ")))
  (is (= 2 (count "日本")))
  (is (= 1 (count "😀")))
  (is (= "é" (subs "café" 3)))
  (is (= "caf" (subs "café" 0 3)))
  (is (= "本" (subs "日本" 1 2)))
  (is (= "ello" (subs "hello" 1)))
  (is (= "" (subs "hello" 5)))
  (is-thrown? :index-error (subs "hello" 6))
  (is-thrown? :index-error (subs "hello" 3 2)))

(deftest split-and-join
  (is (= ["a" "b" "c"] (split "a,b,c" ",")))
  (is (= ["a" "" "b"] (split "a,,b" ",")))
  (is (= ["abc"] (split "abc" ",")))
  (is (= ["k" "v=w"] (split "k=v=w" "=" 2)))
  (is (= "a,b,c" (join "," ["a" "b" "c"])))
  (is (= "abc" (join ["a" "b" "c"])))
  (is (= "1-2-3" (join "-" [1 2 3])))
  (is (= "" (join "," []))))

(deftest trim-and-case
  (is (= "hi" (trim "  hi \n")))
  (is (= "hi  " (triml "  hi  ")))
  (is (= "  hi" (trimr "  hi  ")))
  (is (= "HELLO" (upper-case "hello")))
  (is (= "hello" (lower-case "HeLLo")))
  (is (= "ÉCOLE" (upper-case "école")))
  (is (blank? ""))
  (is (blank? "  \t"))
  (is (blank? nil))
  (is (not (blank? " x "))))

(deftest searching
  (is (starts-with? "hello" "he"))
  (is (not (starts-with? "hello" "lo")))
  (is (ends-with? "hello" "lo"))
  (is (not (ends-with? "hello" "he")))
  (is (includes? "hello" "ell"))
  (is (not (includes? "hello" "xyz")))
  (is (= 2 (index-of "hello" "l")))
  (is (nil? (index-of "hello" "z")))
  (is (= 3 (last-index-of "hello" "l")))
  (is (= 1 (index-of "日本語" "本"))))

(deftest replace-and-format
  (is (= "a-b-c" (replace "a b c" " " "-")))
  (is (= "abc" (replace "abc" "z" "y")))
  (is (= "x=1 y=two" (format "x=%d y=%s" 1 "two")))
  (is (= "3.14" (format "%.2f" 3.14159)))
  (is (= "100%" (format "%d%%" 100))))

(deftest string-conversions
  (is (= "abc" (name :abc)))
  (is (= "abc" (name 'abc)))
  (is (= :abc (keyword "abc")))
  (is (= 'abc (symbol "abc")))
  (is (string? "s"))
  (is (not (string? :s)))
  (is (= "cba" (apply str (reverse "abc"))))
  (is (= ["a" "b"] (vec (seq "ab"))))
  (is (= "b" (nth "abc" 1)))
  (is (= "λ" (first "λx"))))

(deftest string-equality-and-comparison
  (is (= "abc" (str "ab" "c")))
  (is (not= "abc" "abd"))
  (is (neg? (compare "abc" "abd")))
  (is (pos? (compare "b" "a")))
  (is (zero? (compare "a" "a")))
  (is (= ["a" "b" "c"] (sort ["c" "a" "b"]))))

(deftest escapes
  (is (= 1 (count "\n")))
  (is (= "a\"b" (str "a" "\"" "b")))
  (is (= "é" "\u00e9"))
  (is (= "a" \a))
  (is (= " " \space))
  (is (= "\n" \newline)))

(run-tests)
