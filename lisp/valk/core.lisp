;; valk core library: the macros and higher-order functions of the language.
;;
;; Loaded into every isolate before anything else. Functions that take a
;; function argument live here, in Lisp, so that the function may `await`:
;; a native never calls back into Lisp.

;; ---------------------------------------------------------------------------
;; Module loading (used by the native `import`)

(def valk.core/load-forms
  (fn load-forms
    ([forms]
     (if (empty? forms)
       nil
       (do (eval (first forms))
           (load-forms (rest forms)))))
    ([forms path]
     ;; A module that raises while loading is not marked as loaded: a later
     ;; import tries again instead of finding it half defined.
     (try (load-forms forms)
          (catch e
            (valk.core/forget-module path)
            (throw e))))))

;; ---------------------------------------------------------------------------
;; Definition macros

(defmacro defn [name & body]
  (if (string? (first body))
    `(def ~name (fn ~name ~@(rest body)))
    `(def ~name (fn ~name ~@body))))

(defmacro defn- [name & body] `(defn ~name ~@body))

(defmacro declare [& names]
  `(do ~@(map (fn [n] `(def ~n nil)) names)))

(defmacro comment [& body] nil)

;; (defonce name expr) defines name as expr unless it is defined already,
;; or was before the app was reloaded (valk serve, SIGHUP): state such as
;; an atom or a database pool survives a reload.
(defmacro defonce [name expr]
  `(if (valk.core/carry-over '~name) nil (def ~name ~expr)))

;; ---------------------------------------------------------------------------
;; Control flow

(defmacro when [test & body] `(if ~test (do ~@body) nil))

(defmacro when-not [test & body] `(if ~test nil (do ~@body)))

(defmacro if-not [test then & else] `(if ~test (do ~@else) ~then))

(defmacro cond [& clauses]
  (if (empty? clauses)
    nil
    (if (empty? (rest clauses))
      (error "cond needs an even number of forms")
      (let [test (first clauses)
            then (first (rest clauses))
            more (rest (rest clauses))]
        (if (= test :else)
          then
          `(if ~test ~then (cond ~@more)))))))

(defmacro if-let [binding then & else]
  (let [name (first binding) init (first (rest binding))]
    `(let [temp# ~init]
       (if temp# (let [~name temp#] ~then) (do ~@else)))))

(defmacro when-let [binding & body]
  (let [name (first binding) init (first (rest binding))]
    `(let [temp# ~init]
       (when temp# (let [~name temp#] ~@body)))))

(defmacro if-some [binding then & else]
  (let [name (first binding) init (first (rest binding))]
    `(let [temp# ~init]
       (if (nil? temp#) (do ~@else) (let [~name temp#] ~then)))))

(defmacro when-some [binding & body]
  (let [name (first binding) init (first (rest binding))]
    `(let [temp# ~init]
       (if (nil? temp#) nil (let [~name temp#] ~@body)))))

(defn valk.core/case-clauses [v clauses]
  (cond
    (empty? clauses) `(error (str "no case clause matches " (pr-str ~v)))
    (empty? (rest clauses)) (first clauses)
    :else
    (let [test (first clauses)
          then (first (rest clauses))
          more (rest (rest clauses))
          match (if (list? test)
                  `(contains? #{~@(map (fn [t] `(quote ~t)) test)} ~v)
                  `(= ~v (quote ~test)))]
      `(if ~match ~then ~(valk.core/case-clauses v more)))))

(defmacro case [expr & clauses]
  ;; One symbol for the binding and the clauses: an auto-gensym (v#) exists
  ;; only inside its own syntax-quote, so a plain gensym is used.
  (let [v (gensym "case")]
    `(let [~v ~expr]
       ~(valk.core/case-clauses v clauses))))

(defmacro condp [pred expr & clauses]
  (let [v (gensym "condp")
        build (fn build [cs]
                (cond
                  (empty? cs) `(error (str "no condp clause matches " (pr-str ~v)))
                  (empty? (rest cs)) (first cs)
                  :else `(if (~pred ~(first cs) ~v)
                           ~(first (rest cs))
                           ~(build (rest (rest cs))))))]
    `(let [~v ~expr] ~(build clauses))))

(defmacro -> [x & forms]
  (reduce (fn [acc form]
            (if (list? form)
              `(~(first form) ~acc ~@(rest form))
              `(~form ~acc)))
          x forms))

(defmacro ->> [x & forms]
  (reduce (fn [acc form]
            (if (list? form)
              `(~@form ~acc)
              `(~form ~acc)))
          x forms))

(defmacro some-> [x & forms]
  (if (empty? forms)
    x
    (let [form (first forms)
          v (gensym "v")
          step (if (list? form) `(~(first form) ~v ~@(rest form)) `(~form ~v))]
      `(let [~v ~x] (if (nil? ~v) nil (some-> ~step ~@(rest forms)))))))

(defmacro as-> [expr name & forms]
  `(let [~name ~expr
         ~@(mapcat (fn [f] [name f]) forms)]
     ~name))

(defmacro doto [x & forms]
  `(let [v# ~x]
     ~@(map (fn [f] (if (list? f) `(~(first f) v# ~@(rest f)) `(~f v#))) forms)
     v#))

(defmacro while [test & body]
  `(loop [] (when ~test ~@body (recur))))

(defmacro dotimes [binding & body]
  (let [name (first binding) n (first (rest binding))]
    `(let [n# ~n]
       (loop [~name 0]
         (when (< ~name n#)
           ~@body
           (recur (inc ~name)))))))

(defmacro doseq [binding & body]
  (let [name (first binding) coll (first (rest binding))]
    `(loop [s# (seq ~coll)]
       (when s#
         (let [~name (first s#)]
           ~@body)
         (recur (next s#))))))

(defmacro assert [test & message]
  `(when-not ~test
     (error (str "assertion failed: " ~(if (empty? message) (pr-str test) (first message)))
            {:type :assertion-error :form (quote ~test)})))

;; (for [x xs :when (odd? x) :let [y (* x x)] z zs] body) builds a list.
(defn valk.core/for-expand [bindings body]
  (if (empty? bindings)
    `(list ~body)
    (let [k (first bindings) v (first (rest bindings)) more (rest (rest bindings))]
      (cond
        (= k :when) `(if ~v ~(valk.core/for-expand more body) (list))
        (= k :let) `(let ~v ~(valk.core/for-expand more body))
        (= k :while) `(if ~v ~(valk.core/for-expand more body) (list))
        :else `(mapcat (fn [~k] ~(valk.core/for-expand more body)) ~v)))))

(defmacro for [bindings body]
  (valk.core/for-expand (seq bindings) body))

;; ---------------------------------------------------------------------------
;; Functions

(defn identity [x] x)

(defn constantly [x] (fn [& _] x))

(defn complement [f] (fn [& args] (not (apply f args))))

(defn comp [& fs]
  (if (empty? fs)
    identity
    (let [fs (reverse fs)]
      (fn [& args]
        (loop [result (apply (first fs) args) more (rest fs)]
          (if (empty? more)
            result
            (recur ((first more) result) (rest more))))))))

(defn partial [f & bound]
  (fn [& args] (apply f (concat bound args))))

(defn juxt [& fs]
  (fn [& args] (vec (map (fn [f] (apply f args)) fs))))

(defn fnil [f default]
  (fn [x & args] (apply f (if (nil? x) default x) args)))

;; ---------------------------------------------------------------------------
;; Sequences

(defn map
  ([f coll]
   (loop [s (seq coll) acc (list)]
     (if s
       (recur (next s) (cons (f (first s)) acc))
       (reverse acc))))
  ([f c1 c2]
   (loop [a (seq c1) b (seq c2) acc (list)]
     (if (and a b)
       (recur (next a) (next b) (cons (f (first a) (first b)) acc))
       (reverse acc))))
  ([f c1 c2 & colls]
   (loop [ss (map seq (cons c1 (cons c2 colls))) acc (list)]
     (if (every? identity ss)
       (recur (map next ss) (cons (apply f (map first ss)) acc))
       (reverse acc)))))

(defn mapv [f & colls] (vec (apply map f colls)))

(defn map-indexed [f coll]
  (loop [s (seq coll) i 0 acc (list)]
    (if s
      (recur (next s) (inc i) (cons (f i (first s)) acc))
      (reverse acc))))

(defn filter [pred coll]
  (loop [s (seq coll) acc (list)]
    (if s
      (let [x (first s)]
        (recur (next s) (if (pred x) (cons x acc) acc)))
      (reverse acc))))

(defn filterv [pred coll] (vec (filter pred coll)))

(defn remove [pred coll] (filter (complement pred) coll))

(defn keep [f coll]
  (loop [s (seq coll) acc (list)]
    (if s
      (let [y (f (first s))]
        (recur (next s) (if (nil? y) acc (cons y acc))))
      (reverse acc))))

(defn mapcat [f & colls] (apply concat (apply map f colls)))

(defn reduce
  ([f coll]
   (let [s (seq coll)]
     (if s
       (reduce f (first s) (next s))
       (f))))
  ([f init coll]
   (loop [s (seq coll) acc init]
     (if s
       (recur (next s) (f acc (first s)))
       acc))))

(defn reduce-kv [f init m]
  (reduce (fn [acc kv] (f acc (first kv) (second kv))) init (seq m)))

(defn some [pred coll]
  (loop [s (seq coll)]
    (when s
      (or (pred (first s)) (recur (next s))))))

(defn every? [pred coll]
  (loop [s (seq coll)]
    (if s
      (if (pred (first s)) (recur (next s)) false)
      true)))

(defn not-any? [pred coll] (not (some pred coll)))

(defn not-every? [pred coll] (not (every? pred coll)))

(defn take-while [pred coll]
  (loop [s (seq coll) acc (list)]
    (if (and s (pred (first s)))
      (recur (next s) (cons (first s) acc))
      (reverse acc))))

(defn drop-while [pred coll]
  (loop [s (seq coll)]
    (if (and s (pred (first s)))
      (recur (next s))
      (if s s (list)))))

(defn group-by [f coll]
  (reduce (fn [m x]
            (let [k (f x)]
              (assoc m k (conj (get m k []) x))))
          {} coll))

(defn run! [f coll]
  (doseq [x coll] (f x))
  nil)

(def valk.core/natural-sort sort)

(defn valk.core/merge-sorted [cmp a b]
  (loop [a a b b acc (list)]
    (cond
      (empty? a) (concat (reverse acc) b)
      (empty? b) (concat (reverse acc) a)
      (let [c (cmp (first b) (first a))]
        (if (boolean? c) c (neg? c)))
      (recur a (rest b) (cons (first b) acc))
      :else (recur (rest a) b (cons (first a) acc)))))

;; A stable merge sort: the comparator may await.
(defn valk.core/merge-sort [cmp items]
  (let [n (count items)]
    (if (< n 2)
      items
      (let [half (quot n 2)]
        (valk.core/merge-sorted cmp
                                (valk.core/merge-sort cmp (take half items))
                                (valk.core/merge-sort cmp (drop half items)))))))

(defn sort
  ([coll] (valk.core/natural-sort coll))
  ([cmp coll] (valk.core/merge-sort cmp (apply list (seq coll)))))

(defn sort-by
  ([keyfn coll] (sort-by keyfn compare coll))
  ([keyfn cmp coll]
   (map second
        (sort (fn [a b] (cmp (first a) (first b)))
              (map (fn [x] [(keyfn x) x]) coll)))))

;; ---------------------------------------------------------------------------
;; Maps and atoms

(defn update [m k f & args]
  (assoc m k (apply f (get m k) args)))

(defn update-in [m ks f & args]
  (let [k (first ks) more (next ks)]
    (if more
      (assoc m k (apply update-in (get m k) more f args))
      (assoc m k (apply f (get m k) args)))))

(defn update-vals [m f]
  (reduce (fn [acc kv] (assoc acc (first kv) (f (second kv)))) {} (seq m)))

(defn update-keys [m f]
  (reduce (fn [acc kv] (assoc acc (f (first kv)) (second kv))) {} (seq m)))

(defn merge-with [f & maps]
  (reduce (fn [acc m]
            (reduce (fn [acc kv]
                      (let [k (first kv) v (second kv)]
                        (if (contains? acc k)
                          (assoc acc k (f (get acc k) v))
                          (assoc acc k v))))
                    (if (nil? acc) {} acc) (seq m)))
          nil maps))

;; Atoms: swap! retries if another fiber changed the atom while f ran
;; (f may await).
(defn swap! [a f & args]
  (loop []
    (let [old (deref a)
          new (apply f old args)]
      (if (compare-and-set! a old new)
        new
        (recur)))))

(defn swap-vals! [a f & args]
  (loop []
    (let [old (deref a)
          new (apply f old args)]
      (if (compare-and-set! a old new)
        [old new]
        (recur)))))

(defn memoize [f]
  (let [cache (atom {})]
    (fn [& args]
      (let [hit (get (deref cache) args :valk.core/none)]
        (if (= hit :valk.core/none)
          (let [v (apply f args)]
            (swap! cache assoc args v)
            v)
          hit)))))

;; ---------------------------------------------------------------------------
;; More sequence functions, eager like the rest: they take finite
;; collections and return lists (vectors where Clojure does). `repeat` and
;; `repeatedly` need a count, as there are no infinite sequences.

(defn repeat [n x]
  (loop [i 0 acc ()]
    (if (< i n) (recur (inc i) (cons x acc)) acc)))

(defn repeatedly [n f]
  (loop [i 0 acc []]
    (if (< i n) (recur (inc i) (conj acc (f))) (apply list acc))))

(defn drop-last
  ([coll] (drop-last 1 coll))
  ([n coll] (take (- (count coll) n) coll)))

(defn butlast [coll] (seq (drop-last 1 coll)))

(defn take-last [n coll] (seq (drop (- (count coll) n) coll)))

(defn split-at [n coll] [(take n coll) (drop n coll)])

(defn split-with [pred coll] [(take-while pred coll) (drop-while pred coll)])

(defn take-nth [n coll]
  (when-not (pos? n)
    (throw (ex-info "take-nth: n must be positive" {:type :argument-error})))
  (loop [xs (seq coll) i 0 acc []]
    (cond
      (empty? xs) (apply list acc)
      (zero? (mod i n)) (recur (rest xs) (inc i) (conj acc (first xs)))
      :else (recur (rest xs) (inc i) acc))))

;; The entry [k v] of map `m` for key `k`, or nil.
(defn find [m k]
  (when (contains? m k) [k (get m k)]))

(defn not-empty [coll]
  (when (seq coll) coll))

(defn keep-indexed [f coll]
  (remove nil? (map-indexed f coll)))

(defn every-pred [& preds]
  (fn [& xs] (every? (fn [p] (every? p xs)) preds)))

(defn some-fn [& preds]
  (fn [& xs] (some (fn [p] (some p xs)) preds)))

;; The x with the greatest (least) (k x); of equals, the last.
(defn max-key [k x & more]
  (reduce (fn [best y] (if (>= (k y) (k best)) y best)) x more))

(defn min-key [k x & more]
  (reduce (fn [best y] (if (<= (k y) (k best)) y best)) x more))

;; Drops each element equal to the one before it.
(defn dedupe [coll]
  (reverse (reduce (fn [acc x] (if (and (seq acc) (= x (first acc))) acc (cons x acc)))
                   () coll)))

;; Chunks of n taken every `step` elements, the last ones shorter.
(defn partition-all
  ([n coll] (partition-all n n coll))
  ([n step coll]
   (when-not (and (pos? n) (pos? step))
     (throw (ex-info "partition-all: n and step must be positive" {:type :argument-error})))
   (loop [v (vec coll) acc []]
     (if (empty? v)
       (apply list acc)
       (recur (subvec v (min step (count v)))
              (conj acc (apply list (subvec v 0 (min n (count v))))))))))

;; Splits `coll` each time (f x) changes.
(defn partition-by [f coll]
  (loop [xs (seq coll) acc [] cur [] last-key :valk.core/none]
    (if (empty? xs)
      (apply list (if (seq cur) (conj acc (apply list cur)) acc))
      (let [x (first xs) k (f x)]
        (if (or (= last-key :valk.core/none) (= k last-key))
          (recur (rest xs) acc (conj cur x) k)
          (recur (rest xs) (conj acc (apply list cur)) [x] k))))))

;; The nodes of a tree, depth first, each before its children.
(defn tree-seq [branch? children root]
  (loop [stack (list root) acc []]
    (if (empty? stack)
      (apply list acc)
      (let [node (first stack)
            kids (when (branch? node) (children node))]
        (recur (concat kids (rest stack)) (conj acc node))))))

(defn rand-nth [coll]
  (nth (vec coll) (rand-int (count coll))))

;; A vector of the elements of `coll` in random order (Fisher-Yates, with
;; the isolate's seeded generator).
(defn shuffle [coll]
  (loop [v (vec coll) i (dec (count v))]
    (if (pos? i)
      (let [j (rand-int (inc i))]
        (recur (assoc v i (nth v j) j (nth v i)) (dec i)))
      v)))

;; `m` with the keys of `kmap` renamed to its values.
(defn rename-keys [m kmap]
  (reduce-kv (fn [acc old new] (if (contains? m old) (assoc acc new (get m old)) acc))
             (apply dissoc m (keys kmap)) kmap))

;; ---------------------------------------------------------------------------
;; Outgoing HTTP: shorthands of the native http/request (its options are
;; listed in docs/web.md, "Calling other services"). Each returns a promise.

(defn valk.core/http-call [method url opts]
  (http/request (assoc (or opts {}) :method method :url url)))

(defn http/get ([url] (http/get url nil)) ([url opts] (valk.core/http-call :get url opts)))
(defn http/head ([url] (http/head url nil)) ([url opts] (valk.core/http-call :head url opts)))
(defn http/delete ([url] (http/delete url nil)) ([url opts] (valk.core/http-call :delete url opts)))
(defn http/post ([url] (http/post url nil)) ([url opts] (valk.core/http-call :post url opts)))
(defn http/put ([url] (http/put url nil)) ([url opts] (valk.core/http-call :put url opts)))
(defn http/patch ([url] (http/patch url nil)) ([url opts] (valk.core/http-call :patch url opts)))

;; ---------------------------------------------------------------------------
;; Transactions of PostgreSQL (the natives pg/connect, pg/query, pg/execute
;; and pg/close are in src/lisp/builtins_pg.cc) and SQLite (sqlite/open,
;; sqlite/query, sqlite/execute and sqlite/close: builtins_sqlite.cc).

;; Calls (f tx) with the connection `acquire` gives (a promise), inside
;; BEGIN ... COMMIT run by `execute`, and returns what f returns; if f
;; raises (or COMMIT fails), ROLLBACK, and the error goes on. `release`
;; gives the connection back in every case.
(defn valk.core/transaction [acquire release execute db f]
  (let [p (acquire db)
        tx (try
             (await p)
             (catch e
               ;; Cancelled while it waited: give up the wait, or the
               ;; connection if it came meanwhile, so that it goes back.
               (if (realized? p)
                 (try (release (await p)) (catch _ nil))
                 (cancel p))
               (throw e)))]
    (try
      (await (execute tx "BEGIN"))
      (let [result (f tx)]
        (await (execute tx "COMMIT"))
        result)
      (catch e
        (try (await (execute tx "ROLLBACK")) (catch _ nil))
        (throw e))
      (finally (release tx)))))

;; Queries of the transaction go to `tx`, a connection of its own.
(defn pg/transaction [db f]
  (valk.core/transaction valk.pg/acquire valk.pg/release pg/execute db f))

;; Statements of the transaction go to `tx`; the others wait until it ends.
(defn sqlite/transaction [db f]
  (valk.core/transaction valk.sqlite/acquire valk.sqlite/release sqlite/execute db f))

;; Calls (f channel message) in a fiber of its own for each message
;; published on one of `channels`, on a connection of its own; an error f
;; raises is printed, and the next message comes all the same.
(defn redis/subscribe [conn channels f]
  (valk.redis/subscribe conn channels
                        (fn [channel message]
                          (try (f channel message)
                               (catch e (println (str "error: redis/subscribe " channel ": "
                                                      (error-message e))))))))

;; ---------------------------------------------------------------------------
;; The shared store (the natives store/get, store/put!, store/delete!,
;; store/incr!, store/keys and store/clear! are in src/lisp/builtins_store.cc).

;; Sets k to (apply f value-at-k args), atomically: if another worker
;; changed k meanwhile, f runs again on its value, so f should have no side
;; effects. Returns the new value; nil removes k.
(defn store/swap! [k f & args]
  (loop []
    (let [[v version] (valk.store/entry k)
          new (apply f v args)]
      (if (valk.store/cas! k version new)
        new
        (recur)))))
