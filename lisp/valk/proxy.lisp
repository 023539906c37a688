;; valk/proxy: a handler's request passed on to another server, and its
;; answer streamed back as it comes, as nginx's proxy_pass does.
;;
;;   (import "valk/proxy")
;;   (def app (router (ANY "/api/*rest"
;;                         (fn [req] (proxy req "http://127.0.0.1:9000"
;;                                          {:path (str "/" (get-in req [:params :rest]))})))))
;;
;; docs/web.md, "Proxying", is the reference; tests/unit/serve/proxy_test.cc
;; tests it. Helpers private to this file are named valk.proxy/...

(import "valk/web")

;; Headers of one connection (RFC 9110, 7.6.1), which go no further, and
;; what the client frames or sets anew.
(def valk.proxy/hop-by-hop
  ["connection" "keep-alive" "proxy-connection" "te" "trailer" "transfer-encoding" "upgrade"
   "proxy-authenticate" "proxy-authorization"])
(def valk.proxy/request-headers-dropped
  (into valk.proxy/hop-by-hop ["host" "content-length" "expect"]))

;; `headers` without `drop` and those the connection header names.
(defn valk.proxy/strip [headers drop]
  (let [kept (apply dissoc headers drop)]
    (if-let [named (get headers "connection")]
      (apply dissoc kept (map (fn [s] (lower-case (trim s))) (split named ",")))
      kept)))

;; The address part of a remote address: "10.0.0.7:51234" gives
;; "10.0.0.7", "[::1]:5000" gives "::1".
(defn valk.proxy/client-address [addr]
  (cond
    (nil? addr) nil
    (starts-with? addr "[") (subs addr 1 (or (index-of addr "]") (count addr)))
    :else (subs addr 0 (or (last-index-of addr ":") (count addr)))))

(defn valk.proxy/request-headers [req]
  (let [headers (:headers req)
        client (valk.proxy/client-address (:remote-addr req))
        prior (get headers "x-forwarded-for")]
    (merge (valk.proxy/strip headers valk.proxy/request-headers-dropped)
           (when client {"x-forwarded-for" (if prior (str prior ", " client) client)})
           {"x-forwarded-proto" (if (= (:scheme req) :https) "https" "http")}
           (when-let [a (:authority req)] {"x-forwarded-host" a}))))

;; The upstream's headers as a response's: set-cookie's values (joined
;; with newlines in a response of http/request) each a header of its own.
(defn valk.proxy/response-headers [headers]
  (let [kept (valk.proxy/strip headers valk.proxy/hop-by-hop)]
    (if-let [cookies (get kept "set-cookie")]
      (assoc kept "set-cookie" (split cookies "\n"))
      kept)))

;; A writer for `stream` that writes the streamed body of `r` (an
;; http/request response with :as :stream) as it comes, at the pace of the
;; slower side, and lets go of the upstream at the end, on an error, or
;; when the client leaves.
(defn stream-body [r]
  (fn [out]
    (try
      (loop []
        (when-let [chunk (read-chunk r)]
          (write out chunk)
          (recur)))
      (finally (http/close r)))))

;; The protocol `req` asks to switch to (its Upgrade header, with
;; "upgrade" in its Connection header; on HTTP/2 an extended CONNECT's
;; :protocol), or nil.
(defn valk.proxy/upgrade [req]
  (or (:connect-protocol req)
      (when (header-has-token? req "connection" "upgrade")
        (get-header req "upgrade"))))

;; A writer for a 101 that joins the client's connection to the
;; upstream's (`r`, an http/request response with :as :upgrade): each
;; side's bytes pass to the other as they come, at the pace of the slower
;; side, until either side closes.
(defn valk.proxy/tunnel [req r]
  (fn [out]
    (let [up (spawn (fn []
                      (try
                        (loop []
                          (when-let [chunk (read-chunk req)]
                            (http/write r chunk)
                            (recur)))
                        (finally (http/close r)))))]
      (try
        (loop []
          (when-let [chunk (read-chunk r)]
            (write out chunk)
            (recur)))
        (catch e
          (when-not (= (:kind (error-data e)) :closed)  ; the client's side closed it
            (throw e)))
        (finally
          (cancel up)
          (http/close r))))))

;; A :body function for http/request that passes `req`'s body up as it
;; comes, at the pace of the slower side.
(defn valk.proxy/pass-body [req]
  (fn [w]
    (loop []
      (when-let [chunk (read-chunk req)]
        (http/write w chunk)
        (recur)))))

(def valk.proxy/request-options
  [:timeout-ms :read-timeout-ms :connect-timeout-ms :version :ca-file :insecure])

;; Passes `req` on to `upstream` (a base URL such as "http://10.0.0.5:8080":
;; the request's path and query string follow it) and answers with what
;; comes back: status, headers (but those of one connection) and the body,
;; streamed as it comes, at the pace of the slower of the two sides.
;; Redirects are passed back, not followed. The upstream learns the client
;; from x-forwarded-for, -proto and -host. An upstream that cannot be
;; reached, or does not answer within :timeout-ms (30 s), gives 502 or
;; 504, and a line in the log. opts: :path (instead of the request's),
;; :headers (added to what goes up), and http/request's :timeout-ms,
;; :read-timeout-ms (60 s), :connect-timeout-ms, :version (:http1 by
;; default, over TLS too; :http2 for h2c or h2), :ca-file and :insecure. A request body that streams in (one larger than
;; :buffered-body-limit, or of no declared length) goes up as it comes,
;; with its content-length if it has one (else chunked); one read whole
;; with the head goes up whole. A request to switch protocols (a WebSocket handshake) goes up as one, to
;; an http:// upstream, and a 101 joins the two connections until either
;; side closes (with :read-timeout-ms bounding the upstream's silences).
;; An HTTP/2 extended CONNECT (a WebSocket over HTTP/2) goes up as an
;; HTTP/1.1 upgrade, and its stream is joined to the upstream's connection.
(defn proxy
  ([req upstream] (proxy req upstream {}))
  ([req upstream opts]
   (let [q (:query-string req)
         url (str upstream (or (:path opts) (:path req)) (when q (str "?" q)))
         upgrade (valk.proxy/upgrade req)
         ;; An HTTP/2 extended CONNECT goes up as the HTTP/1.1 upgrade it
         ;; stands for (its :method is :get), with a key of the proxy's for
         ;; a WebSocket.
         h2? (some? (:connect-protocol req))
         key (when (and h2? (= upgrade "websocket")) (ws/client-key))
         streams? (and (not upgrade) (nil? (:body req)) (some? (:body-stream req)))
         length (when streams? (get-header req "content-length"))
         body (cond upgrade nil
                    streams? (valk.proxy/pass-body req)
                    :else (read-body req))]
     (try
       (let [r (await (http/request
                        (merge {:url url :method (:method req) :as (if upgrade :upgrade :stream)
                                :max-redirects 0 :read-timeout-ms 60000
                                ;; As nginx's proxy_pass: HTTP/1.1 upstream,
                                ;; https:// too (the own client's TLS costs
                                ;; half of libcurl's HTTP/2).
                                :version :http1
                                :headers (merge (valk.proxy/request-headers req)
                                                (when upgrade {"upgrade" upgrade})
                                                (when key {"sec-websocket-key" key})
                                                (when length {"content-length" length})
                                                (:headers opts))}
                               (when body {:body body})
                               (select-keys opts valk.proxy/request-options))))]
         (cond
           (and key (= (:status r) 101)
                (not= (get (:headers r) "sec-websocket-accept") (ws/accept-key key)))
           (do (http/close r)
               (throw (ex-info "the upstream accepted the WebSocket with a wrong key"
                               {:type :http-error :kind :protocol})))

           (= (:status r) 101)
           (let [headers (valk.proxy/response-headers (:headers r))]
             {:status 101  ; on HTTP/2 it goes out as a 200
              :headers (if h2?
                         (dissoc headers "sec-websocket-accept")  ; the key was the proxy's
                         (assoc headers "upgrade" (get (:headers r) "upgrade")))
              :body (valk.proxy/tunnel req r)})

           (http/body-complete? r)
           ;; All of it came with the head (a small answer): no stream.
           {:status (:status r) :headers (valk.proxy/response-headers (:headers r))
            :body (read-body r)}

           :else
           (stream {:status (:status r) :headers (valk.proxy/response-headers (:headers r))}
                   (stream-body r))))
       (catch e
         (let [kind (:kind (error-data e))]
           (when-not (and kind (= (:type (error-data e)) :http-error))
             (throw e))
           (println (str "error: request " (:request-id req) " proxied to " url ": "
                         (error-message e)))
           {:status (if (= kind :timeout) 504 502)
            :headers {"content-type" "text/plain; charset=utf-8"}
            :body (str "upstream " (if (= kind :timeout) "timed out" "failed") "\n")}))))))
