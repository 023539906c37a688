;; A gateway in front of another service: each request parks its fiber
;; while it waits for the upstream, and the calls of /fanout run at once.
;; Run the upstream, then the gateway:
;;   build/valk serve examples/hello.lisp &
;;   UPSTREAM=http://127.0.0.1:8080 build/valk serve examples/gateway.lisp
;;   curl http://127.0.0.1:8081/proxy/hello/you    (then /fanout)

(import "valk/web")

(def upstream (or (getenv "UPSTREAM") "http://127.0.0.1:8080"))

;; The upstream's answer to `path`, or a 502 (unreachable) or 504 (too
;; slow) that says what went wrong.
(defn fetch [path]
  (try
    (await (http/get (str upstream path) {:timeout-ms 2000}))
    (catch e
      (let [kind (or (:kind (error-data e)) :failed)]
        {:status (if (= kind :timeout) 504 502)
         :headers {"content-type" "application/json"}
         :body (json/write {:error (if (= kind :timeout) "upstream timed out" "upstream failed")
                            :kind (name kind)
                            :upstream upstream})}))))

(def app
  (router
    ;; The upstream's status, content type and body, as they came.
    (GET "/proxy/*path" (fn [req]
                          (let [r (fetch (str "/" (get-in req [:params :path])))]
                            {:status (:status r)
                             :headers {"content-type" (get (:headers r) "content-type"
                                                           "text/plain")}
                             :body (:body r)})))
    ;; Three upstream calls at once; the answer waits for the slowest.
    (GET "/fanout" (fn [req]
                     (let [paths ["/" "/hello/a" "/hello/b"]
                           answers (await (all (map #(spawn (fn [] (fetch %))) paths)))]
                       (json {:statuses (mapv :status answers)
                              :bodies (mapv :body answers)}))))))

(serve app {:port 8081})
