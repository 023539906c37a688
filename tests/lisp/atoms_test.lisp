;; Atoms: the one mutable reference type.
(import "valk/test")

(deftest atom-deref-reset
  (let [a (atom 1)]
    (is (atom? a))
    (is (not (atom? 1)))
    (is (= 1 (deref a)))
    (is (= 1 @a))
    (is (= 5 (reset! a 5)))
    (is (= 5 @a))
    (is (= {:k [1]} (do (reset! a {:k [1]}) @a)))))

(deftest swap-applies-a-function
  (let [a (atom 0)]
    (is (= 1 (swap! a inc)))
    (is (= 11 (swap! a + 10)))
    (is (= 16 (swap! a + 2 3)))
    (is (= 16 @a)))
  (let [m (atom {})]
    (swap! m assoc :a 1)
    (swap! m update :a inc)
    (swap! m assoc-in [:b :c] 3)
    (is (= {:a 2 :b {:c 3}} @m))))

(deftest swap-vals-and-compare-and-set
  (let [a (atom 1)]
    (is (= [1 2] (swap-vals! a inc)))
    (is (= 2 @a))
    (is (compare-and-set! a 2 3))
    (is (not (compare-and-set! a 2 4)))
    (is (= 3 @a))))

(deftest atoms-are-shared-by-closures
  (let [a (atom [])
        add! (fn [x] (swap! a conj x))]
    (add! 1)
    (add! 2)
    (is (= [1 2] @a))))

(deftest atom-holds-any-value
  (let [a (atom nil)]
    (is (nil? @a))
    (reset! a (fn [] :called))
    (is (= :called (@a)))))

(deftest deref-of-a-non-atom-is-a-type-error
  (is-thrown? :type-error (deref 1))
  (is-thrown? :type-error (reset! 1 2))
  (is-thrown? :type-error (swap! {} inc)))

(deftest swap-from-many-fibers
  (let [a (atom 0)
        ps (mapv (fn [i] (spawn (fn [] (await (sleep 1)) (swap! a inc)))) (range 100))]
    (await (all ps))
    (is (= 100 @a))))

(deftest swap-with-an-awaiting-function-retries
  ;; f awaits between reading and writing; another fiber changes the atom
  ;; meanwhile, so swap! runs f again on the new value.
  (let [a (atom 0)
        calls (atom 0)
        slow (spawn (fn [] (swap! a (fn [v] (swap! calls inc) (await (sleep 20)) (+ v 10)))))
        fast (spawn (fn [] (await (sleep 5)) (swap! a inc)))]
    (await (all [slow fast]))
    (is (= 11 @a))
    (is (= 2 @calls))))

(deftest memoize-caches
  (let [calls (atom 0)
        f (memoize (fn [x] (swap! calls inc) (* x 2)))]
    (is (= 4 (f 2)))
    (is (= 4 (f 2)))
    (is (= 6 (f 3)))
    (is (= 2 @calls))))

(run-tests)
