;; A gateway in front of another service: each request parks its fiber
;; while it waits for the upstream, and the calls of /fanout run at once.
;; Run the upstream, then the gateway:
;;   build/valk serve examples/hello.lisp &
;;   UPSTREAM=http://127.0.0.1:8080 build/valk serve examples/gateway.lisp
;;   curl http://127.0.0.1:8081/proxy/hello/you    (then /fanout)
;; /relay passes a body on as it comes, and /api/ proxies whatever comes
;; (an upload too, passed up as it comes): with examples/stream.lisp
;; upstream,
;;   curl -N http://127.0.0.1:8081/relay/ticks?n=5
;;   curl -N http://127.0.0.1:8081/api/count?n=5
;; /api/ passes WebSockets on too: with examples/websocket.lisp upstream,
;; ws://127.0.0.1:8081/api/echo echoes through the gateway.

(import "valk/web")
(import "valk/proxy")

(def upstream (or (getenv "UPSTREAM") "http://127.0.0.1:8080"))

;; A 502 (unreachable) or 504 (too slow) that says what went wrong with
;; the upstream.
(defn upstream-error [e]
  (let [kind (or (:kind (error-data e)) :failed)]
    {:status (if (= kind :timeout) 504 502)
     :headers {"content-type" "application/json"}
     :body (json/write {:error (if (= kind :timeout) "upstream timed out" "upstream failed")
                        :kind (name kind)
                        :upstream upstream})}))

;; The upstream's answer to `path`, or its error.
(defn fetch [path]
  (try
    (await (http/get (str upstream path) {:timeout-ms 2000}))
    (catch e (upstream-error e))))

;; The upstream's body passed on as it comes (a large download, an event
;; stream), never held whole: valk/proxy's stream-body reads it with
;; read-chunk, which waits for the upstream, and writes it with `write`,
;; which waits for the client, so the slower of the two sets the pace. The
;; deadline is the head's; the body may take as long as it takes, but an
;; upstream silent for a minute ends it (an event stream sends more often).
(defn relay [req]
  (let [target (str upstream "/" (get-in req [:params :path])
                    (when-let [q (:query-string req)] (str "?" q)))]
    (try
      (let [r (await (http/get target {:as :stream :timeout-ms 2000
                                        :read-timeout-ms 60000}))]
        (stream {:status (:status r)
                 :headers {"content-type" (get (:headers r) "content-type"
                                               "application/octet-stream")}}
                (stream-body r)))
      (catch e (upstream-error e)))))

(def app
  (router
    ;; The upstream's status, content type and body, as they came.
    (GET "/proxy/*path" (fn [req]
                          (let [r (fetch (str "/" (get-in req [:params :path])))]
                            {:status (:status r)
                             :headers {"content-type" (get (:headers r) "content-type"
                                                           "text/plain")}
                             :body (:body r)})))
    (GET "/relay/*path" relay)
    ;; Everything under /api/ passed on as it is (method, headers, body)
    ;; and the answer streamed back, as nginx's proxy_pass: valk/proxy.
    (ANY "/api/*rest" (fn [req]
                        (proxy req upstream {:path (str "/" (get-in req [:params :rest]))})))
    ;; Three upstream calls at once; the answer waits for the slowest.
    (GET "/fanout" (fn [req]
                     (let [paths ["/" "/hello/a" "/hello/b"]
                           answers (await (all (map #(spawn (fn [] (fetch %))) paths)))]
                       (json {:statuses (mapv :status answers)
                              :bodies (mapv :body answers)}))))))

(serve app {:port 8081})
