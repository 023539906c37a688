;; Sequence functions over lists, vectors, maps, sets, strings and nil.
;; There are no lazy sequences: these return lists (or vectors for the
;; ...v variants).
(import "valk/test")

(deftest map-filter-remove
  (is (= '(2 3 4) (map inc [1 2 3])))
  (is (list? (map inc [1 2 3])))
  (is (= [5 7 9] (map + [1 2 3] [4 5 6])))
  (is (= [5 7] (map + [1 2 3] [4 5])))
  (is (= [12 15] (map + [1 2] [4 5] [7 8])))
  (is (= '() (map inc nil)))
  (is (= [2 4] (filter even? [1 2 3 4])))
  (is (= [1 3] (remove even? [1 2 3 4])))
  (is (= [2 3 4] (mapv inc '(1 2 3))))
  (is (vector? (mapv inc '(1 2 3))))
  (is (vector? (filterv odd? [1 2 3])))
  (is (= [[0 :a] [1 :b]] (map-indexed vector [:a :b])))
  (is (= [2 4] (keep (fn [x] (when (even? x) x)) [1 2 3 4])))
  (is (= [1 1 2 2] (mapcat (fn [x] [x x]) [1 2]))))

(deftest reduce-and-apply
  (is (= 10 (reduce + [1 2 3 4])))
  (is (= 15 (reduce + 5 [1 2 3 4])))
  (is (= 0 (reduce + [])))
  (is (= 7 (reduce + 7 [])))
  (is (= 1 (reduce + [1])))
  (is (= [3 2 1] (reduce (fn [acc x] (cons x acc)) [] [1 2 3])))
  (is (= {:a 1 :b 2} (reduce (fn [m kv] (assoc m (first kv) (second kv))) {} [[:a 1] [:b 2]])))
  (is (= 6 (reduce-kv (fn [acc k v] (+ acc v)) 0 {:a 1 :b 2 :c 3})))
  (is (= 6 (apply + [1 2 3])))
  (is (= 10 (apply + 1 2 [3 4])))
  (is (= 0 (apply + [])))
  (is (= [1 2 3] (apply vector '(1 2 3))))
  (is (= 3 (apply max [1 3 2]))))

(deftest range-take-drop
  (is (= [0 1 2] (range 3)))
  (is (= [2 3 4] (range 2 5)))
  (is (= [0 3 6 9] (range 0 10 3)))
  (is (= [5 4 3] (range 5 2 -1)))
  (is (= '() (range 0)))
  (is (= [1 2] (take 2 [1 2 3])))
  (is (= [1 2 3] (take 5 [1 2 3])))
  (is (= '() (take 0 [1 2])))
  (is (= [3] (drop 2 [1 2 3])))
  (is (= '() (drop 5 [1 2 3])))
  (is (= [1 2] (take-while (fn [x] (< x 3)) [1 2 3 1])))
  (is (= [3 1] (drop-while (fn [x] (< x 3)) [1 2 3 1]))))

(deftest concat-reverse-into
  (is (= [1 2 3 4] (concat [1 2] '(3) [4])))
  (is (= '() (concat)))
  (is (= [1 2] (concat nil [1 2] nil)))
  (is (= [3 2 1] (reverse [1 2 3])))
  (is (= '() (reverse [])))
  (is (= [1 2 3] (into [1] [2 3])))
  (is (vector? (into [] '(1 2))))
  (is (= '(3 2 1) (into '() [1 2 3])))
  (is (= {:a 1 :b 2} (into {} [[:a 1] [:b 2]])))
  (is (= #{1 2} (into #{} [1 2 1])))
  (is (= {:a 1} (into {:a 0} {:a 1}))))

(deftest sort-and-sort-by
  (is (= [1 2 3] (sort [3 1 2])))
  (is (= [3 2 1] (sort > [3 1 2])))
  (is (= [3 2 1] (sort (fn [a b] (compare b a)) [1 3 2])))
  (is (= ["a" "bb" "ccc"] (sort-by count ["ccc" "a" "bb"])))
  (is (= ["ccc" "bb" "a"] (sort-by count > ["ccc" "a" "bb"])))
  (is (= [{:n 1} {:n 2}] (sort-by :n [{:n 2} {:n 1}])))
  ;; sort-by is stable.
  (is (= [[1 :a] [1 :b] [2 :c]]
         (sort-by first [[2 :c] [1 :a] [1 :b]])))
  (is (= [1.5 2 3] (sort [3 1.5 2])))
  (is (= '() (sort []))))

(deftest some-every
  (is (= true (some even? [1 2 3])))
  (is (nil? (some even? [1 3])))
  (is (= :b (some #{:b :c} [:a :b :c])))
  (is (= 4 (some (fn [x] (when (> x 3) x)) [1 4 5])))
  (is (every? odd? [1 3]))
  (is (not (every? odd? [1 2])))
  (is (every? odd? []))
  (is (not-any? even? [1 3]))
  (is (not-every? odd? [1 2])))

(deftest other-sequence-functions
  (is (= {1 ["a" "b"] 2 ["cc"]} (group-by count ["a" "cc" "b"])))
  (is (= {:a 2 :b 1} (frequencies [:a :b :a])))
  (is (= [1 2 3] (distinct [1 2 1 3 2])))
  (is (= [[1 2] [3 4]] (partition 2 [1 2 3 4 5])))
  (is (= [1 :x 2] (interpose :x [1 2])))
  (is (= [1 :a 2 :b] (interleave [1 2] [:a :b])))
  (is (= [1 2 3 4] (flatten [1 [2 [3]] 4])))
  (is (= [0 1 2] (vec (distinct (map (fn [x] (mod x 3)) (range 9)))))))

(deftest sequences-over-maps-sets-strings
  (is (= #{[:a 1] [:b 2]} (set (map identity {:a 1 :b 2}))))
  (is (= #{2 3} (set (map inc #{1 2}))))
  (is (= ["A" "B"] (map upper-case "ab")))
  (is (= 3 (count (filter (fn [c] (= c "a")) "banana"))))
  (is (= {:a 2 :b 3} (into {} (map (fn [kv] [(first kv) (inc (second kv))]) {:a 1 :b 2})))))

(deftest function-helpers
  (is (= 1 (identity 1)))
  (is (= 5 ((constantly 5) 1 2 3)))
  (is (= 7 ((comp inc inc) 5)))
  (is (= "3" ((comp str +) 1 2)))
  (is (= 5 ((comp) 5)))
  (is (= 6 ((partial + 1 2) 3)))
  (is (= [2 0] ((juxt inc dec) 1)))
  (is (= false ((complement odd?) 1)))
  (is (= 3 ((fnil + 0) nil 3))))

(deftest large-sequences
  (is (= 49995000 (reduce + (range 10000))))
  (is (= 10000 (count (map inc (range 10000)))))
  (is (= (range 1000) (sort (reverse (range 1000))))))

(run-tests)
