;; SQLite statements per second from one isolate: FIBERS fibers (64) at
;; once, each awaiting its statements in turn, over one handle. Run by
;; bench/sqlite/statements.sh with the database file as the argument.
(def file (first *command-line-args*))
(def fibers (parse-long (or (getenv "FIBERS") "64")))
;; Statements of each SELECT run; the INSERT run makes a tenth as many rows.
(def n (parse-long (or (getenv "STATEMENTS") "200000")))
(def db (sqlite/open file))
(await (sqlite/execute db "CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT)"))
(await (sqlite/execute db "DELETE FROM kv"))

(defn run [label n f]
  (let [per-fiber (quot n fibers)
        t0 (now-ms)]
    (await (all (map (fn [w] (spawn #(dotimes [i per-fiber] (f (+ (* w per-fiber) i)))))
                     (range fibers))))
    (println (str label "\t" (quot (* 1000 per-fiber fibers) (max 1 (- (now-ms) t0)))))))

(def rows (quot n 10))
(run "select_param" n (fn [i] (await (sqlite/query db "SELECT ? AS n" [i]))))
(run "insert_commit" rows (fn [i] (await (sqlite/execute db "INSERT INTO kv VALUES (?, 'x')" [i]))))
(run "select_by_key" n (fn [i] (await (sqlite/query db "SELECT v FROM kv WHERE k = ?"
                                                    [(mod i rows)]))))
(sqlite/close db)
