;; A JSON API whose notes live in PostgreSQL, so every worker, and the
;; server after a restart, sees the same ones (compare todos.lisp).
;;
;;   tests/pg/postgres.sh start /tmp/valk-pg      # prints a connection string
;;   DATABASE_URL="host=/tmp/valk-pg user=valk dbname=postgres" \
;;     build/valk serve examples/notes.lisp
;;   curl -d '{"text":"buy milk"}' -H 'content-type: application/json' \
;;        http://127.0.0.1:8082/notes

(import "valk/web")

(defonce db (pg/connect (or (getenv "DATABASE_URL") "dbname=postgres")))

;; Each worker loads the app; the lock lets one of them make the table
;; while the others wait, rather than race to make it.
(pg/transaction db (fn [tx]
                     (await (pg/execute tx "SELECT pg_advisory_xact_lock(7001)"))
                     (await (pg/execute tx "CREATE TABLE IF NOT EXISTS notes (
                                              id bigserial PRIMARY KEY,
                                              text text NOT NULL,
                                              created timestamptz NOT NULL DEFAULT now())"))))

(defn note-id [req] (parse-long (get-in req [:params :id])))

(def no-such-note (json {:error "no such note"} 404))

(defn list-notes [req]
  (json (await (pg/query db "SELECT id, text, created FROM notes ORDER BY id"))))

(defn show-note [req]
  (let [[note] (await (pg/query db "SELECT id, text, created FROM notes WHERE id = $1"
                                [(note-id req)]))]
    (if note (json note) no-such-note)))

(defn create-note [req]
  (let [text (get-in req [:json-body :text])]
    (if (and (string? text) (not (blank? text)))
      (json (first (await (pg/query db "INSERT INTO notes (text) VALUES ($1)
                                        RETURNING id, text, created" [text])))
            201)
      (json {:error "text must be a non-blank string"} 400))))

(defn delete-note [req]
  (if (pos? (await (pg/execute db "DELETE FROM notes WHERE id = $1" [(note-id req)])))
    {:status 204}
    no-such-note))

(def app
  (-> (router
        (GET "/notes" list-notes)
        (POST "/notes" create-note)
        (GET "/notes/:id" show-note)
        (DELETE "/notes/:id" delete-note))
      (wrap-json-body)))

(serve app {:port 8082})
