;; SQLite: sqlite/open query execute transaction close, values both ways,
;; parameters, errors, transactions and their isolation, cancellation
;; (which interrupts the statement), and many statements at once.
(import "valk/test")

;; The stress run (VALK_GC_STRESS=1) may run at the same time: files of its own.
(def dir (str (or (getenv "TMPDIR") "/tmp") "/valk-sqlite-test-" (or (getenv "VALK_GC_STRESS") 0)
              "-" (now-ms)))
(await (file/mkdir dir))
(def db (sqlite/open (str dir "/test.db")))
(await (sqlite/execute db "CREATE TABLE t (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE,
                                           score REAL, data BLOB, extra TEXT)"))

(defn q [sql & [params]] (await (sqlite/query db sql params)))
(defn x [sql & [params]] (await (sqlite/execute db sql params)))
(defn failure [p] (try (await p) :not-rejected (catch e [(error-message e) (error-data e)])))

(deftest values-go-in-and-come-back
  (is (= 1 (x "INSERT INTO t (title, score, data, extra) VALUES (?, ?, ?, ?)"
              ["one" 1.5 (string->bytes "ab") {:k [1 2]}])))
  (let [[row] (q "SELECT * FROM t WHERE title = ?" ["one"])]
    (is (int? (:id row)))
    (is (= "one" (:title row)))
    (is (= 1.5 (:score row)))
    (is (= "ab" (bytes->string (:data row))))
    (is (= {:k [1 2]} (json/parse (:extra row))) "maps and vectors go as JSON"))
  (is (= [{:a 1 :b 0 :c nil :d "kw" :e 9223372036854775807 :f -0.25}]
         (q "SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, ? AS f"
            [true false nil :kw 9223372036854775807 -0.25])))
  (is (= [] (q "SELECT * FROM t WHERE title = 'none'"))))

(deftest named-parameters
  (is (= [{:v "x" :w 2}] (q "SELECT :a AS v, $b AS w" {:a "x" :b 2})))
  (is (= [{:v 3}] (q "SELECT @n AS v" {"n" 3})))
  (is (= ["sqlite/query: the SQL has no parameter named :nope" {:type :sqlite-error :kind :range :code 25}]
         (failure (sqlite/query db "SELECT :a" {:nope 1})))))

(deftest statement-errors
  (is (= ["sqlite/query: near \"SELEC\": syntax error" {:type :sqlite-error :kind :error :code 1}]
         (failure (sqlite/query db "SELEC 1"))))
  (x "INSERT INTO t (title) VALUES ('dup')")
  (let [[message data] (failure (sqlite/execute db "INSERT INTO t (title) VALUES ('dup')"))]
    (is (= "sqlite/execute: UNIQUE constraint failed: t.title" message))
    (is (= :constraint (:kind data)))
    (is (= 2067 (:code data)) "SQLITE_CONSTRAINT_UNIQUE"))
  (is (= :misuse (:kind (second (failure (sqlite/query db "SELECT 1; SELECT 2")))))
      "one statement at a time")
  (is (= [{:n 1}] (q "SELECT 1 AS n;  ")) "a trailing semicolon is fine")
  (is (try (sqlite/query db 5) false (catch e (= :type-error (:type (error-data e))))))
  (is (try (sqlite/query db "SELECT ?" [(atom 1)]) false (catch e true)))
  (is (try (sqlite/query :db "SELECT 1") false (catch e true))))

(deftest execute-counts-changes
  (x "INSERT INTO t (title) VALUES ('c1')")
  (x "INSERT INTO t (title) VALUES ('c2')")
  (is (= 2 (x "UPDATE t SET score = 7 WHERE title IN ('c1', 'c2')")))
  (is (= 0 (x "SELECT 1")) "a query changes nothing")
  (is (= 2 (x "DELETE FROM t WHERE score = 7"))))

(deftest transactions-commit-or-roll-back
  (is (= [{:n 1}]
         (sqlite/transaction db (fn [tx]
                                  (await (sqlite/execute tx "INSERT INTO t (title) VALUES ('tx1')"))
                                  (await (sqlite/query tx "SELECT count(*) AS n FROM t WHERE title = 'tx1'"))))))
  (is (= "no" (try (sqlite/transaction db (fn [tx]
                                            (await (sqlite/execute tx "INSERT INTO t (title) VALUES ('tx2')"))
                                            (error "no")))
                   (catch e (error-message e)))))
  (is (= [] (q "SELECT * FROM t WHERE title = 'tx2'")) "rolled back")
  (is (= ["sqlite/execute: a transaction is begun with sqlite/transaction; this one was rolled back"
          {:type :sqlite-error :kind :misuse :code 21}]
         (failure (sqlite/execute db "BEGIN"))))
  (is (= 1 (x "INSERT INTO t (title) VALUES ('after-begin')")) "not inside the refused BEGIN")
  (let [saved (atom nil)]
    (sqlite/transaction db (fn [tx] (reset! saved tx)))
    (is (= "sqlite/query: the transaction is over"
           (try (sqlite/query @saved "SELECT 1") (catch e (error-message e)))))))

(deftest a-transaction-holds-the-connection
  (let [order (atom [])
        began (atom false)
        tx (spawn (fn []
                    (sqlite/transaction db (fn [tx]
                                             (await (sqlite/execute tx "INSERT INTO t (title) VALUES ('held')"))
                                             (reset! began true)
                                             (await (sleep 50))
                                             (swap! order conj :tx-done)))))
        _ (loop [] (when-not @began (await (sleep 1)) (recur)))
        other (spawn (fn [] (let [r (q "SELECT count(*) AS n FROM t WHERE title = 'held'")]
                              (swap! order conj :other)
                              r)))]
    (await tx)
    (is (= [{:n 1}] (await other)) "it ran after the commit")
    (is (= [:tx-done :other] @order))))

(deftest cancelling-interrupts-the-statement
  (let [slow "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c"
        t0 (now-ms)]
    (is (= :timeout (:type (error-data (try (await (timeout 100 (sqlite/query db slow)))
                                            (catch e e))))))
    ;; The next statement waits for the interrupted one, then runs.
    (is (= [{:n 1}] (q "SELECT 1 AS n")))
    (is (< (- (now-ms) t0) 5000) "interrupted, not run to its end")))

(deftest a-handle-nobody-keeps-closes-its-file
  (let [fds #(count (await (file/list "/proc/self/fd")))
        before (fds)]
    (let [dropped (sqlite/open (str dir "/dropped.db"))]
      (await (sqlite/query dropped "SELECT 1"))
      (is (< before (fds)) "the file is open")
      (is (= [{:n 2}] (await (sqlite/query dropped "SELECT 2 AS n")))))
    ;; Garbage enough for collections, which find the handle unreachable.
    (loop [i 0]
      (when (and (< i 20) (< before (fds)))
        (dotimes [_ 20000] (vec (range 8)))
        (await (sleep 1))
        (recur (inc i))))
    (is (= before (fds)) "closed once collected")))

(deftest many-statements-at-once
  (x "CREATE TABLE many (n INTEGER)")
  (await (all (map (fn [i] (spawn #(x "INSERT INTO many VALUES (?)" [i]))) (range 200))))
  (is (= [{:c 200 :s 19900}] (q "SELECT count(*) AS c, sum(n) AS s FROM many"))))

(deftest open-options-and-failures
  (let [ro (sqlite/open (str dir "/test.db") {:readonly true})]
    (is (= :readonly (:kind (second (failure (sqlite/execute ro "INSERT INTO t (title) VALUES ('ro')"))))))
    (is (pos? (count (await (sqlite/query ro "SELECT * FROM t")))))
    (sqlite/close ro))
  (is (= :cantopen (:kind (second (failure (sqlite/query (sqlite/open (str dir "/no/such/dir.db"))
                                                         "SELECT 1"))))))
  (is (try (sqlite/open "x.db" {:journal :wal}) false
           (catch e (includes? (error-message e) "options are :readonly"))))
  (let [d (sqlite/open ":memory:")
        queued [(sqlite/query d "SELECT 1") (sqlite/query d "SELECT 2")]]
    (sqlite/close d)
    (is (= "sqlite/query: the database is closed"
           (first (failure (second queued)))))
    (is (= "sqlite/query: the database is closed"
           (try (sqlite/query d "SELECT 1") (catch e (error-message e)))))))

(run-tests)
(sqlite/close db)
(defn remove-tree [path]
  (when-let [st (await (file/stat path))]
    (when (= :directory (:type st))
      (doseq [name (await (file/list path))] (remove-tree (str path "/" name))))
    (await (file/delete path))))
(remove-tree dir)
