;; A link shortener whose links live in a SQLite file, so every worker,
;; and the server after a restart, sees the same ones.
;;
;;   LINKS_DB=/tmp/links.db build/valk serve examples/links.lisp
;;   curl -d '{"url":"https://example.com/a/long/path"}' \
;;        -H 'content-type: application/json' http://127.0.0.1:8083/links
;;   curl -i http://127.0.0.1:8083/Xy3k9Q_        # 302 to the link

(import "valk/web")

(defonce db (sqlite/open (or (getenv "LINKS_DB") "links.db")))

;; Every worker loads the app: IF NOT EXISTS lets each run it.
(await (sqlite/execute db "CREATE TABLE IF NOT EXISTS links (
                             code TEXT PRIMARY KEY,
                             url TEXT NOT NULL,
                             hits INTEGER NOT NULL DEFAULT 0)"))

(defn web-url? [url]
  (and (string? url) (< (count url) 2048)
       (or (starts-with? url "https://") (starts-with? url "http://"))))

(defn create-link [req]
  (let [url (get-in req [:json-body :url])]
    (if-not (web-url? url)
      (json {:error "url must be an http or https URL"} 400)
      ;; A code already taken (rarely) gets another try.
      (loop [tries 3]
        (let [code (random-token 7)  ; 42 bits from the system's generator
              made (try (await (sqlite/query db "INSERT INTO links (code, url) VALUES (?, ?)
                                                 RETURNING code, url, hits" [code url]))
                        (catch e (if (and (= :constraint (:kind (error-data e))) (> tries 1))
                                   nil
                                   (throw e))))]
          (if made (json (first made) 201) (recur (dec tries))))))))

(defn follow-link [req]
  (let [[link] (await (sqlite/query db "UPDATE links SET hits = hits + 1 WHERE code = ?
                                        RETURNING url" [(get-in req [:params :code])]))]
    (if link (redirect (:url link)) (json {:error "no such link"} 404))))

(defn show-link [req]
  (let [[link] (await (sqlite/query db "SELECT code, url, hits FROM links WHERE code = ?"
                                    [(get-in req [:params :code])]))]
    (if link (json link) (json {:error "no such link"} 404))))

(def app
  (-> (router
        (POST "/links" create-link)
        (GET "/links/:code" show-link)
        (GET "/:code" follow-link))
      (wrap-json-body)))

(serve app {:port 8083})
