;; PostgreSQL: pg/connect pg/query pg/execute pg/transaction pg/close,
;; against the server tests/pg/postgres.sh starts (CTest's fixture sets
;; VALK_TEST_PG_DIR to its directory: a Unix socket there, and the TCP
;; port of its TLS in its `port` file).
(import "valk/test")

(def dir (or (getenv "VALK_TEST_PG_DIR")
             (error "VALK_TEST_PG_DIR is not set: run this suite with ctest, or start a server with tests/pg/postgres.sh")))
(def port (trim (await (file/read (str dir "/port")))))
(def server (str "host=" dir " port=" port " user=valk dbname=postgres"))
(def admin (pg/connect server))

;; A database of this run's own: the stress run (VALK_GC_STRESS=1) may run
;; at the same time.
(def dbname (str "valk_test_" (or (getenv "VALK_GC_STRESS") 0) "_" (now-ms)))
(await (pg/execute admin (str "CREATE DATABASE " dbname)))
(def conninfo (str server " dbname=" dbname))
(def db (pg/connect conninfo))

(defn rejection [p] (try (await p) :not-rejected (catch e e)))

(await (pg/execute db "CREATE TABLE items (id serial PRIMARY KEY, name text UNIQUE NOT NULL,
                                            price numeric, tags jsonb, data bytea)"))

(deftest columns-by-type
  (let [[row] (await (pg/query db "SELECT 1 AS i, 2::bigint AS big, 1.5::float8 AS d, true AS b,
                                          NULL AS n, 'é'::text AS t, 12.30::numeric AS num,
                                          '{\"a\": [1, 2]}'::jsonb AS j, '\\x4142'::bytea AS raw,
                                          '2026-01-02'::date AS day, ARRAY[1,2] AS arr"))]
    (is (= {:i 1 :big 2 :d 1.5 :b true :n nil :t "é" :num "12.30" :j {:a [1 2]}
            :day "2026-01-02" :arr "{1,2}"}
           (dissoc row :raw)))
    (is (= "AB" (bytes->string (:raw row))))))

(deftest parameters-of-each-kind
  (let [[row] (await (pg/query db "SELECT $1::int AS i, $2::float8 AS d, $3::bool AS b, $4::text AS n,
                                          $5::text AS s, $6::text AS k, $7::bytea AS raw, $8::jsonb AS j"
                               [42 2.5 false nil "it's" :kw (string->bytes "xy") {:a [1 "two"]}]))]
    (is (= {:i 42 :d 2.5 :b false :n nil :s "it's" :k "kw" :j {:a [1 "two"]}} (dissoc row :raw)))
    (is (= "xy" (bytes->string (:raw row)))))
  (is (= :type-error (:type (error-data (try (pg/query db "SELECT $1" [(atom 1)]) (catch e e)))))))

(deftest rows-and-counts
  (is (= 2 (await (pg/execute db "INSERT INTO items (name, price) VALUES ($1, $2), ($3, $4)"
                              ["pen" "1.50" "ink" "3.00"]))))
  (is (= [{:name "ink"} {:name "pen"}] (await (pg/query db "SELECT name FROM items ORDER BY name"))))
  (is (= [{:id 3}] (await (pg/query db "INSERT INTO items (name) VALUES ('cap') RETURNING id"))))
  (is (= [] (await (pg/query db "SELECT * FROM items WHERE name = $1" ["none"]))))
  (is (= 0 (await (pg/execute db "CREATE TEMP TABLE IF NOT EXISTS scratch (x int)")))))

(deftest server-errors-say-what
  (let [e (rejection (pg/execute db "INSERT INTO items (name) VALUES ('pen')"))]
    (is (= "pg/execute: duplicate key value violates unique constraint \"items_name_key\""
           (error-message e)))
    (is (= {:type :pg-error :code "23505" :constraint "items_name_key" :table "items"
            :detail "Key (name)=(pen) already exists."}
           (error-data e))))
  (let [e (rejection (pg/query db "SELECT nme FROM items"))]
    (is (= "42703" (:code (error-data e))))
    (is (= 8 (:position (error-data e)))))
  ;; The pool goes on.
  (is (= [{:one 1}] (await (pg/query db "SELECT 1 AS one")))))

(deftest bad-calls-raise-at-once
  (doseq [f [#(pg/connect "host") #(pg/connect "not=a=conninfo") #(pg/connect server {:pool-size 0})
             #(pg/connect server {:size 2}) #(pg/query db 5) #(pg/query "db" "SELECT 1")
             #(pg/query db "SELECT 1" '(1))]]
    (is (contains? #{:pg-error :type-error} (:type (error-data (try (f) (catch e e))))))))

(deftest an-unreachable-server-fails-each-query
  (let [nowhere (pg/connect "host=/nonexistent port=5432 user=valk dbname=postgres")
        e (rejection (pg/query nowhere "SELECT 1"))]
    (is (= :connection (:kind (error-data e))))
    (is (starts-with? (error-message e) "pg/query: connection to server on socket"))
    (is (= :connection (:kind (error-data (rejection (pg/query nowhere "SELECT 1"))))))))

(deftest transactions-commit-or-roll-back
  (is (= 5 (pg/transaction db (fn [tx]
                                (await (pg/execute tx "INSERT INTO items (name) VALUES ('a1')"))
                                (await (pg/execute tx "INSERT INTO items (name) VALUES ('a2')"))
                                5))))
  (is (= 2 (count (await (pg/query db "SELECT 1 FROM items WHERE name LIKE 'a_'")))))
  (let [e (try (pg/transaction db (fn [tx]
                                    (await (pg/execute tx "INSERT INTO items (name) VALUES ('b1')"))
                                    (error "changed my mind")))
               (catch e e))]
    (is (= "changed my mind" (error-message e))))
  (is (= [] (await (pg/query db "SELECT 1 FROM items WHERE name = 'b1'"))))
  ;; A query that fails inside rolls back what came before it.
  (is (= "23505" (:code (error-data (try (pg/transaction db (fn [tx]
                                                               (await (pg/execute tx "INSERT INTO items (name) VALUES ('c1')"))
                                                               (await (pg/execute tx "INSERT INTO items (name) VALUES ('pen')"))))
                                         (catch e e))))))
  (is (= [] (await (pg/query db "SELECT 1 FROM items WHERE name = 'c1'"))))
  ;; Its connection is its own: another transaction does not see its rows
  ;; before COMMIT.
  (is (= [0 1] (pg/transaction db (fn [tx]
                                    (await (pg/execute tx "INSERT INTO items (name) VALUES ('d1')"))
                                    [(count (await (pg/query db "SELECT 1 FROM items WHERE name = 'd1'")))
                                     (count (await (pg/query tx "SELECT 1 FROM items WHERE name = 'd1'")))]))))
  (let [kept (atom nil)]
    (pg/transaction db (fn [tx] (reset! kept tx)))
    (is (= "pg/query: the transaction is over"
           (error-message (try (pg/query @kept "SELECT 1") (catch e e)))))))

(deftest the-pool-size-bounds-the-connections
  (let [small (pg/connect conninfo {:pool-size 2})
        start (now-ms)
        rows (await (all (mapv (fn [_] (pg/query small "SELECT pg_backend_pid() AS pid, pg_sleep(0.1)"))
                               (range 6))))]
    (is (= 2 (count (distinct (map #(:pid (first %)) rows)))))
    (is (<= 300 (- (now-ms) start)) "six 100 ms queries, two at a time")
    (pg/close small)))

(deftest a-broken-connection-fails-its-query-and-the-pool-reconnects
  (let [one (pg/connect conninfo {:pool-size 1})
        [{pid :pid}] (await (pg/query one "SELECT pg_backend_pid() AS pid"))
        slow (pg/query one "SELECT pg_sleep(5)")]
    (await (sleep 50))
    (await (pg/query admin "SELECT pg_terminate_backend($1)" [pid]))
    (is (= :connection (:kind (error-data (rejection slow)))))
    (is (not= pid (:pid (first (await (pg/query one "SELECT pg_backend_pid() AS pid"))))))
    (pg/close one)))

(deftest a-stray-begin-does-not-leak-into-the-next-query
  (let [one (pg/connect conninfo {:pool-size 1})]
    (await (pg/execute one "BEGIN"))
    (await (pg/execute one "INSERT INTO items (name) VALUES ('stray')"))
    ;; Seen from another pool: the insert was not left in an open transaction.
    (is (= 1 (count (await (pg/query db "SELECT 1 FROM items WHERE name = 'stray'")))))
    ;; What waited behind the BEGIN runs on a new connection.
    (let [b (pg/execute one "BEGIN")
          q (pg/query one "SELECT 1 AS x")]
      (await b)
      (is (= [{:x 1}] (await q))))
    (pg/close one)))

(deftest a-transaction-cancelled-while-it-waits-leaves-the-connection-to-the-pool
  (let [one (pg/connect conninfo {:pool-size 1})
        a (spawn (fn [] (pg/transaction one (fn [tx] (await (sleep 100)) :a))))
        _ (await (sleep 20))
        b (spawn (fn [] (pg/transaction one (fn [tx] :b))))]
    (await (sleep 20))
    (cancel b)
    (is (= :cancelled (:type (error-data (rejection b)))))
    (is (= :a (await a)))
    (is (= [{:ok true}] (await (timeout 3000 (pg/query one "SELECT true AS ok")))))
    (pg/close one)))

(deftest statements-are-prepared-and-prepared-again-when-stale
  (let [one (pg/connect conninfo {:pool-size 1})]
    (await (pg/execute one "CREATE TABLE shape (a int)"))
    (await (pg/execute one "INSERT INTO shape VALUES (1)"))
    (is (= [{:a 1}] (await (pg/query one "SELECT * FROM shape"))))
    (is (= 1 (count (await (pg/query one "SELECT 1 FROM pg_prepared_statements
                                          WHERE statement = 'SELECT * FROM shape'")))))
    ;; The kept plan no longer fits the table (0A000): prepared again.
    (await (pg/execute one "ALTER TABLE shape ADD COLUMN b int"))
    (is (= [{:a 1 :b nil}] (await (pg/query one "SELECT * FROM shape"))))
    ;; The server forgot them all (26000): prepared again.
    (await (pg/execute one "DISCARD ALL"))
    (is (= [{:a 1 :b nil}] (await (pg/query one "SELECT * FROM shape"))))
    (pg/close one)))

(deftest cancelling-a-query
  (let [p (pg/query db "SELECT pg_sleep(0.2)")]
    (cancel p)
    (is (= :cancelled (:type (error-data (rejection p))))))
  (is (= [{:ok true}] (await (pg/query db "SELECT true AS ok")))))

(deftest a-closed-pool-refuses
  (let [p (pg/connect conninfo)]
    (await (pg/query p "SELECT 1"))
    (pg/close p)
    (is (= "pg/query: the pool is closed" (error-message (try (pg/query p "SELECT 1") (catch e e)))))))

(deftest many-queries-at-once
  (is (= (range 200)
         (map #(:i (first %))
              (await (all (mapv (fn [i] (pg/query db "SELECT $1::int AS i" [i])) (range 200))))))))

;; An app reloaded without defonce drops its pool: the connections close
;; once the collector finds the pool unreachable and nothing runs on it.
(deftest a-pool-nobody-keeps-closes-its-connections
  (let [app-name (str "orphan_" dbname)
        open-conns #(:n (first (await (pg/query db "SELECT count(*)::int AS n FROM pg_stat_activity
                                                   WHERE application_name = $1" [app-name]))))]
    (let [dropped (pg/connect (str conninfo " application_name=" app-name))]
      (await (all (map (fn [_] (pg/query dropped "SELECT pg_sleep(0.01)")) (range 3))))
      (is (pos? (open-conns)) "connected"))
    (loop [i 0]
      (when (and (< i 20) (pos? (open-conns)))
        (dotimes [_ 20000] (vec (range 8)))
        (await (sleep 5))
        (recur (inc i))))
    (is (= 0 (open-conns)) "closed once collected")))

;; Dropped while a query runs: the query ends well, then the pool closes.
(deftest a-pool-dropped-while-busy-closes-after-its-last-query
  (let [app-name (str "busy_orphan_" dbname)
        open-conns #(:n (first (await (pg/query db "SELECT count(*)::int AS n FROM pg_stat_activity
                                                   WHERE application_name = $1" [app-name]))))
        running (let [dropped (pg/connect (str conninfo " application_name=" app-name))]
                  (pg/query dropped "SELECT pg_sleep(0.3), 7 AS n"))]
    (loop [i 0]
      (when (and (< i 20) (not (realized? running)))
        (dotimes [_ 20000] (vec (range 8)))
        (await (sleep 5))
        (recur (inc i))))
    (is (= 7 (:n (first (await running)))))
    (loop [i 0]
      (when (and (< i 100) (pos? (open-conns)))
        (await (sleep 5))
        (recur (inc i))))
    (is (= 0 (open-conns)) "closed once its query ended")))

;; Over TLS, asked for in the connection string (sslmode; libpq does the
;; TLS): the server's certificate checked against certs/ca.crt, results
;; larger than a TLS record, connections of a pool at once; and a server
;; whose certificate is not of the CA given, refused.
(deftest over-tls
  (let [tls (pg/connect (str "host=localhost port=" port " user=valk dbname=" dbname
                             " sslmode=verify-full sslrootcert=certs/ca.crt")
                        {:pool-size 4})]
    (is (= [{:ssl true}] (await (pg/query tls "SELECT ssl FROM pg_stat_ssl
                                               WHERE pid = pg_backend_pid()"))))
    (is (= 20000 (count (await (pg/query tls "SELECT i, repeat('x', 100) AS pad
                                              FROM generate_series(1, 20000) AS i")))))
    (is (= (mapv #(* 1000 %) (range 40))
           (mapv #(count (:pad (first %)))
                 (await (all (mapv #(pg/query tls "SELECT repeat('y', $1) AS pad" [(* 1000 %)])
                                   (range 40)))))))
    (pg/close tls))
  (let [untrusted (pg/connect (str "host=localhost port=" port " user=valk dbname=" dbname
                                   " sslmode=verify-full sslrootcert=certs/other.crt"))]
    (is (includes? (error-message (rejection (pg/query untrusted "SELECT 1")))
                   "certificate verify failed"))
    (pg/close untrusted)))

(run-tests)
(pg/close db)
(await (pg/execute admin (str "DROP DATABASE " dbname)))
