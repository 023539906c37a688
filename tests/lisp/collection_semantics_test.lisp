;; Lists, vectors, maps and sets: immutable, structurally equal, callable
;; where Clojure's are.
(import "valk/test")

(deftest constructors-and-predicates
  (is (= '(1 2 3) (list 1 2 3)))
  (is (= [1 2 3] (vector 1 2 3)))
  (is (= {:a 1 :b 2} (hash-map :a 1 :b 2)))
  (is (= #{1 2} (hash-set 1 2 2)))
  (is (= #{1 2} (set [1 2 1])))
  (is (= [1 2] (vec '(1 2))))
  (is (list? '(1)))
  (is (list? '()))
  (is (vector? [1]))
  (is (map? {}))
  (is (set? #{}))
  (is (not (vector? '(1))))
  (is (not (list? [1])))
  (is (coll? [1]))
  (is (coll? {}))
  (is (not (coll? "s")))
  (is (sequential? [1]))
  (is (sequential? '(1)))
  (is (not (sequential? #{1}))))

(deftest structural-equality
  (is (= [1 2 3] '(1 2 3)))
  (is (= '(1 2 3) [1 2 3]))
  (is (not= [1 2] [1 2 3]))
  (is (= {:a [1 {:b #{2}}]} {:a [1 {:b #{2}}]}))
  (is (not= {:a 1} {:a 2}))
  (is (not= {:a 1} {:a 1 :b 2}))
  (is (= #{[1 2]} #{[1 2]}))
  (is (not= #{1} [1]))
  (is (not= {} []))
  (is (= [] '()))
  (is (= {:a 1 :b 2} {:b 2 :a 1}))
  (is (not= 1 "1"))
  (is (not= :a "a"))
  (is (not= nil false))
  (is (= (hash [1 2]) (hash '(1 2))))
  (is (= (hash {:a 1 :b 2}) (hash {:b 2 :a 1}))))

(deftest count-nth-first-rest
  (is (= 3 (count [1 2 3])))
  (is (= 0 (count nil)))
  (is (= 2 (count {:a 1 :b 2})))
  (is (= 2 (count #{1 2})))
  (is (= 20 (nth [10 20] 1)))
  (is (= :d (nth [10 20] 5 :d)))
  (is (= 3 (nth '(1 2 3) 2)))
  (is-thrown? :index-error (nth [1 2] 2))
  (is (= 1 (first [1 2])))
  (is (nil? (first [])))
  (is (nil? (first nil)))
  (is (= '(2 3) (rest [1 2 3])))
  (is (empty? (rest [1])))
  (is (empty? (rest nil)))
  (is (nil? (next [1])))
  (is (= 2 (second [1 2 3])))
  (is (= 3 (last [1 2 3])))
  (is (= 3 (peek [1 2 3])))
  (is (= [1 2] (pop [1 2 3]))))

(deftest conj-and-cons
  (is (= [1 2 3] (conj [1 2] 3)))
  (is (= '(0 1 2) (conj '(1 2) 0)))
  (is (= [1 2 3 4] (conj [1 2] 3 4)))
  (is (= #{1 2} (conj #{1} 2)))
  (is (= {:a 1 :b 2} (conj {:a 1} [:b 2])))
  (is (= [1] (conj nil 1)))
  (is (= '(0 1 2) (cons 0 [1 2])))
  (is (list? (cons 0 [1 2])))
  (is (= '(1) (cons 1 nil))))

(deftest immutability
  (let [v [1 2] m {:a 1} s #{1}]
    (conj v 3)
    (assoc m :b 2)
    (conj s 2)
    (is (= [1 2] v))
    (is (= {:a 1} m))
    (is (= #{1} s))))

(deftest map-operations
  (let [m {:a 1 :b 2}]
    (is (= 1 (get m :a)))
    (is (nil? (get m :z)))
    (is (= :d (get m :z :d)))
    (is (= {:a 1 :b 2 :c 3} (assoc m :c 3)))
    (is (= {:a 9 :b 2} (assoc m :a 9)))
    (is (= {:a 1 :b 2 :c 3 :d 4} (assoc m :c 3 :d 4)))
    (is (= {:b 2} (dissoc m :a)))
    (is (= {} (dissoc m :a :b)))
    (is (= m (dissoc m :zz)))
    (is (contains? m :a))
    (is (not (contains? m :z)))
    (is (contains? {:k nil} :k))
    (is (= #{:a :b} (set (keys m))))
    (is (= #{1 2} (set (vals m))))
    (is (= {:a 2 :b 2} (update m :a inc)))
    (is (= {:a 11 :b 2} (update m :a + 10)))
    (is (= {:a 1 :b 2 :n 1} (update m :n (fnil inc 0))))
    (is (= {:a 1 :b 3 :c 4} (merge m {:b 3} {:c 4})))
    (is (= m (merge m)))
    (is (= m (merge m nil)))
    (is (= {:a 1} (select-keys m [:a :zz])))
    (is (= {:a 3 :b 2} (merge-with + m {:a 2})))
    (is (= {1 :a 2 :b} (zipmap [1 2] [:a :b])))
    (is (= {:a 2 :b 3} (update-vals m inc)))
    (is (= #{[:a 1] [:b 2]} (set (seq m))))))

(deftest nested-access
  (let [m {:user {:name "ada" :langs ["en" "fr"]}}]
    (is (= "ada" (get-in m [:user :name])))
    (is (= "fr" (get-in m [:user :langs 1])))
    (is (nil? (get-in m [:user :zip])))
    (is (= :none (get-in m [:user :zip] :none)))
    (is (= m (get-in m [])))
    (is (= {:user {:name "bob" :langs ["en" "fr"]}} (assoc-in m [:user :name] "bob")))
    (is (= {:a {:b {:c 1}}} (assoc-in {} [:a :b :c] 1)))
    (is (= {:user {:name "ADA" :langs ["en" "fr"]}} (update-in m [:user :name] upper-case)))
    (is (= {:n {:count 1}} (update-in {} [:n :count] (fnil inc 0))))))

(deftest vector-operations
  (let [v [10 20 30]]
    (is (= [10 99 30] (assoc v 1 99)))
    (is (= [10 20 30 40] (assoc v 3 40)))
    (is-thrown? :index-error (assoc v 5 0))
    (is (= 20 (get v 1)))
    (is (nil? (get v 7)))
    (is (contains? v 2))
    (is (not (contains? v 3)))
    (is (= [20 30] (subvec v 1)))
    (is (= [20] (subvec v 1 2)))
    (is (= [10 21 30] (update v 1 inc)))))

(deftest set-operations
  (let [s #{1 2 3}]
    (is (contains? s 2))
    (is (not (contains? s 4)))
    (is (= #{1 3} (disj s 2)))
    (is (= 2 (get s 2)))
    (is (nil? (get s 4)))))

(deftest callable-collections
  (is (= 1 (:a {:a 1})))
  (is (nil? (:b {:a 1})))
  (is (= 7 (:b {:a 1} 7)))
  (is (= 1 ({:a 1} :a)))
  (is (= :d ({:a 1} :z :d)))
  (is (= 20 ([10 20] 1)))
  (is (= 2 (#{1 2} 2)))
  (is (nil? (#{1 2} 3)))
  (is (= [1 2] (map :id [{:id 1} {:id 2}])))
  (is (= [1 nil] (mapv #{1} [1 2])))
  (is (= [2] (filter #{2 9} [1 2 3]))))

;; A keyword in call position with one or two arguments compiles to a
;; lookup instruction: it must answer as the call of the keyword would.
(deftest keyword-lookups-as-calls
  (let [m {:a 1 :n nil} s #{:a} v [:a] calls (atom 0)
        default (fn [] (swap! calls inc) :d)
        in-tail (fn [x] (:a x))
        in-tail-or (fn [x] (:a x :none))]
    (is (= 1 (:a m)))
    (is (nil? (:n m)))
    (is (nil? (:n m :d)) "a key that is there with nil is not absent")
    (is (= :d (:z m :d)))
    (is (= :a (:a s)))
    (is (nil? (:a v)))
    (is (= :d (:a v :d)))
    (is (nil? (:a "abc")))
    (is (nil? (:a nil)))
    (is (= 1 (:a m (default))))
    (is (= 1 @calls) "the default is evaluated even when the key is found")
    (is (= 1 (in-tail m)))
    (is (= :none (in-tail-or {})))
    (is (= 2 (:b (:a {:a {:b 2}}))))
    (is-thrown? :arity-error (eval '(:a)))
    (is-thrown? :arity-error (eval '(:a {} 1 2)))))

(deftest empty-and-seq
  (is (empty? []))
  (is (empty? {}))
  (is (empty? ""))
  (is (empty? nil))
  (is (not (empty? [1])))
  (is (nil? (seq [])))
  (is (nil? (seq {})))
  (is (= '(1 2) (seq [1 2])))
  (is (= [] (empty [1 2])))
  (is (= {} (empty {:a 1}))))

(deftest maps-with-any-keys
  (let [m {[1 2] :vec "s" :str 1 :one nil :nil}]
    (is (= :vec (get m [1 2])))
    (is (= :vec (get m '(1 2))))
    (is (= :str (m "s")))
    (is (= :one (m 1)))
    (is (= :nil (get m nil)))))

(deftest large-collections
  (let [n 5000
        m (reduce (fn [m i] (assoc m i (* i i))) {} (range n))
        v (reduce conj [] (range n))]
    (is (= n (count m)))
    (is (= (* 4999 4999) (get m 4999)))
    (is (= n (count v)))
    (is (= 4321 (nth v 4321)))
    (is (= (dec n) (peek v)))
    (is (= (- n 2) (count (dissoc (dissoc m 5) 7))))))

(run-tests)
