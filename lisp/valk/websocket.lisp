;; valk/websocket: WebSocket (RFC 6455) handlers for `valk serve`, and a
;; client of other servers' (ws/connect).
;;
;;   (import "valk/websocket")
;;   (def app (router (GET "/echo" (fn [req]
;;                                   (websocket req (fn [ws]
;;                                                    (loop []
;;                                                      (when-let [m (ws/receive ws)]
;;                                                        (ws/send ws m)
;;                                                        (recur)))))))))
;;
;; The handshake is an HTTP/1.1 upgrade, or on HTTP/2 an extended CONNECT
;; (RFC 8441: the WebSocket is one stream of the connection); once
;; answered, `f` runs in the fiber of a streamed response, reading the
;; connection (or stream) with read-chunk and writing it with write, so
;; that it waits, is held back by a slow client and is cancelled when the
;; client leaves as any stream is. The framing is wslay's, with zlib for
;; permessage-deflate (src/lisp/builtins_websocket.cc). docs/web.md,
;; "WebSockets", is the reference. Helpers private to this file are named
;; valk.websocket/...

(import "valk/web")

(def valk.websocket/default-max-message (* 1024 1024))
(def valk.websocket/default-ping-interval-ms 30000)

;; Whether `req` opens a WebSocket over HTTP/2: an extended CONNECT
;; (RFC 8441) with :protocol websocket (its :method is :get).
(defn valk.websocket/extended-connect? [req]
  (= (:connect-protocol req) "websocket"))

;; Whether `req` is a WebSocket handshake: an HTTP/1.1 upgrade (RFC 6455,
;; 4.2.1) or an HTTP/2 extended CONNECT (RFC 8441).
(defn websocket-request? [req]
  (or (and (= (:method req) :get)
           (header-has-token? req "upgrade" "websocket")
           (header-has-token? req "connection" "upgrade")
           (some? (get-header req "sec-websocket-key")))
      (valk.websocket/extended-connect? req)))

;; Whether the page that opened the WebSocket may: a browser names it in
;; Origin (other clients send none). By default only pages of the server's
;; own origin may, as a page elsewhere could otherwise act with the user's
;; cookies (cross-site WebSocket hijacking); `allowed` lists the origins
;; that may too ("https://app.example.com"), or is :any. Behind a proxy
;; the server's own host is the one x-forwarded-host names (a page cannot
;; set that header on a WebSocket's handshake).
(defn valk.websocket/origin-allowed? [req allowed]
  (let [origin (get-header req "origin")
        host (some-> origin (split "://") second lower-case)]
    (cond
      (nil? origin) true
      (= allowed :any) true
      (some #(= % origin) allowed) true
      :else (and (some? host)
                 (or (= host (some-> (:authority req) lower-case))
                     (= host (some-> (get-header req "x-forwarded-host") lower-case)))))))

;; The first of the server's subprotocols that the client offers, or nil.
(defn valk.websocket/pick-protocol [req server-protocols]
  (when-let [offered (get-header req "sec-websocket-protocol")]
    (let [offered (set (map trim (split offered ",")))]
      (some (fn [p] (when (contains? offered p) p)) server-protocols))))

(def valk.websocket/deflate-parameters
  #{"server_no_context_takeover" "client_no_context_takeover"
    "server_max_window_bits" "client_max_window_bits"})

;; The permessage-deflate (RFC 7692) entries of `m`'s
;; sec-websocket-extensions (a client's offers, in its order of preference,
;; or a server's answer), each a map of its parameters; an entry with a
;; parameter RFC 7692 does not define is left out (an offer to decline, an
;; answer to refuse). "permessage-deflate; client_max_window_bits,
;; permessage-deflate" gives ({"client_max_window_bits" nil} {}).
(defn valk.websocket/deflate-offers [m]
  (when-let [h (get-header m "sec-websocket-extensions")]
    (keep (fn [offer]
            (let [parts (map trim (split offer ";"))
                  params (when (= (lower-case (first parts)) "permessage-deflate")
                           (into {} (map (fn [p]
                                           (let [[k v] (map trim (split p "="))]
                                             [(lower-case k) (some-> v (replace "\"" ""))]))
                                         (rest parts))))]
              (when (and params (every? #(contains? valk.websocket/deflate-parameters %)
                                        (keys params)))
                params)))
          (split h ","))))

;; The answer to an offer, and the codec's terms, or nil if the offer is
;; one to decline. Both sides compress each message afresh (no context
;; takeover), so that an idle WebSocket holds no zlib state: the client
;; is told so with client_no_context_takeover, which RFC 7692 lets a
;; server add.
(defn valk.websocket/accept-deflate [offer]
  (let [asked (get offer "server_max_window_bits")
        bits (if asked (parse-long asked) 15)]
    (when (and bits (<= 9 bits) (<= bits 15))
      [(str "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            (when asked (str "; server_max_window_bits=" bits)))
       {:window-bits bits :reset-in true}])))

;; Writes what the codec has framed: replies to pings and closes, and
;; queued messages. A server's :out is its response stream, a client's the
;; response of its handshake.
(defn valk.websocket/flush [ws]
  (when-let [b (ws/codec-output (:codec ws))]
    (let [out (:out ws)]
      (if (map? out) (http/write out b) (write out b)))))

;; Ends the WebSocket with a close frame (unless one went out already).
;; The client may be gone: then there is nothing to say.
(defn valk.websocket/finish [ws code]
  (try
    (ws/codec-close (:codec ws) code "")
    (valk.websocket/flush ws)
    (catch e nil)))

;; Answers a WebSocket handshake: `f` gets the WebSocket once the 101 (on
;; HTTP/2, a 200) is out, and the connection (stream) closes when `f`
;; returns (with a close frame, 1000, or 1011 if `f` raised). `opts`:
;;   :max-message  the largest message taken, in bytes (1 MiB); a larger one
;;                 closes the WebSocket with 1009
;;   :protocols    the subprotocols the server speaks, in its order of
;;                 preference; the one chosen is the WebSocket's :protocol
;;   :headers      more headers for the 101
;;   :origins      the origins whose pages may open it besides the server's
;;                 own, or :any (a browser's handshake from elsewhere gets 403)
;;   :compress     true to take permessage-deflate (RFC 7692) when the
;;                 client offers it: messages of 64 bytes or more go
;;                 compressed when that makes them smaller
;;   :ping-interval-ms  a ping that often (30 000; nil for none), so that
;;                 proxies on the way keep a quiet connection open, and a
;;                 client that vanished without a word is found (a ping
;;                 it does not acknowledge fails the connection within the
;;                 write timeout)
;; A request that is not a handshake gets 426 Upgrade Required; one with a
;; version other than 13, 426 naming 13; one with a malformed key, 400.
(defn websocket
  ([req f] (websocket req {} f))
  ([req opts f]
   (let [handshake? (websocket-request? req)
         ;; HTTP/2 has no key to answer: the stream is the client's own.
         h2? (valk.websocket/extended-connect? req)
         accept (when (and handshake? (not h2?))
                  (ws/accept-key (get-header req "sec-websocket-key")))]
     (cond
       (not handshake?)
       {:status 426
        :headers {"upgrade" "websocket" "sec-websocket-version" "13"
                  "content-type" "text/plain; charset=utf-8"}
        :body "This address takes WebSocket connections only.\n"}

       (not= (get-header req "sec-websocket-version") "13")
       {:status 426
        :headers {"sec-websocket-version" "13" "content-type" "text/plain; charset=utf-8"}
        :body "WebSocket version 13 only.\n"}

       (and (not h2?) (nil? accept))
       {:status 400
        :headers {"content-type" "text/plain; charset=utf-8"}
        :body "Sec-WebSocket-Key must be 16 bytes in base64.\n"}

       (not (valk.websocket/origin-allowed? req (:origins opts)))
       {:status 403
        :headers {"content-type" "text/plain; charset=utf-8"}
        :body "A page of another origin may not open this WebSocket.\n"}

       :else
       (let [protocol (valk.websocket/pick-protocol req (:protocols opts))
             max-message (or (:max-message opts) valk.websocket/default-max-message)
             deflate (when (:compress opts)
                       (some valk.websocket/accept-deflate (valk.websocket/deflate-offers req)))]
         ;; On HTTP/2 the server sends the 101 as the 200 that accepts there.
         {:status 101
          :headers (merge (:headers opts)
                          (when-not h2? {"upgrade" "websocket" "sec-websocket-accept" accept})
                          (when protocol {"sec-websocket-protocol" protocol})
                          (when deflate {"sec-websocket-extensions" (first deflate)}))
          :body (fn [out]
                  (let [ws {:codec (ws/codec max-message :server (second deflate))
                            :in req :out out :protocol protocol :compressed (some? deflate)}
                        interval (get opts :ping-interval-ms
                                      valk.websocket/default-ping-interval-ms)
                        pinger (when interval
                                 (spawn (fn []
                                          (loop []
                                            (await (sleep interval))
                                            (ws/ping ws)
                                            (recur)))))]
                    (try
                      (f ws)
                      (valk.websocket/finish ws 1000)
                      (catch e
                        (valk.websocket/finish ws 1011)
                        (throw e))
                      (finally
                        (when pinger (cancel pinger))
                        ;; Its ~9 KiB go now, not at the next collection; a
                        ;; fiber the handler spawned gets :websocket-closed.
                        (ws/codec-free (:codec ws))))))})))))

;; Opens a WebSocket to another server, `url` a ws:// or wss:// URL (or
;; http:// or https://; HTTP/1.1, through http/request's :as :upgrade),
;; and returns it once the server has accepted: ws/receive, ws/send,
;; ws/ping and ws/close work on it as on a server's. Raises a
;; :websocket-error if the server answers otherwise (its :status in the
;; data), and http/request's errors. `opts`: :headers, :protocols
;; (offered; the one the server chose is the WebSocket's :protocol),
;; :max-message (1 MiB), :compress (true offers permessage-deflate),
;; :timeout-ms for the handshake (10 000), :read-timeout-ms (the longest
;; ws/receive waits for bytes; none), and for wss:// :ca-file and
;; :insecure, as for http/request.
(defn ws/connect
  ([url] (ws/connect url {}))
  ([url opts]
   (let [key (ws/client-key)
         http-url (cond
                    (starts-with? url "ws://") (str "http://" (subs url 5))
                    (starts-with? url "wss://") (str "https://" (subs url 6))
                    :else url)
         r (await (http/request
                    (merge {:url http-url :as :upgrade :max-redirects 0
                            :timeout-ms (get opts :timeout-ms 10000)
                            :headers (merge (:headers opts)
                                            {"upgrade" "websocket" "sec-websocket-key" key
                                             "sec-websocket-version" "13"}
                                            (when-let [p (:protocols opts)]
                                              {"sec-websocket-protocol" (join ", " p)})
                                            (when (:compress opts)
                                              {"sec-websocket-extensions" valk.websocket/client-offer}))}
                           (select-keys opts [:read-timeout-ms :connect-timeout-ms
                                              :ca-file :insecure]))))
         refuse (fn [why]
                  (http/close r)
                  (throw (ex-info (str "ws/connect " url ": " why)
                                  {:type :websocket-error :status (:status r)})))]
     (when-not (and (= (:status r) 101)
                    (= (get-in r [:headers "sec-websocket-accept"]) (ws/accept-key key)))
       (refuse (str "the server answered " (:status r) " instead of accepting the WebSocket")))
     (let [answer (get-in r [:headers "sec-websocket-extensions"])
           deflate (when answer (valk.websocket/client-deflate (:compress opts) r))]
       (when (and answer (nil? deflate))
         (refuse (str "the server took extensions not offered: " answer)))
       {:codec (ws/codec (or (:max-message opts) valk.websocket/default-max-message) :client deflate)
        :in r :out r :protocol (get-in r [:headers "sec-websocket-protocol"])
        :compressed (some? deflate)}))))

;; What ws/connect offers with :compress: permessage-deflate, with each
;; message compressed afresh both ways (no zlib state while idle).
(def valk.websocket/client-offer
  "permessage-deflate; server_no_context_takeover; client_no_context_takeover")

;; The codec's terms for the server's answer `r` to the client's offer, or
;; nil if the answer is not one the offer allows (RFC 7692, 7.1).
(defn valk.websocket/client-deflate [offered? r]
  (let [answers (valk.websocket/deflate-offers r)
        terms (first answers)
        bits (get terms "client_max_window_bits")]
    (when (and offered? (= (count answers) 1)
               (nil? bits))  ; not offered, so not to be answered
      {:window-bits 15 :reset-in (contains? terms "server_no_context_takeover")})))

;; The next message from the other side: a string (text) or bytes
;; (binary), waiting for it if need be; nil once it closed the WebSocket or
;; left. Its pings are answered, and its close too.
(defn ws/receive [ws]
  (let [c (:codec ws)]
    (loop []
      (or (ws/codec-message c)
          (when (ws/codec-open? c)
            (when-let [chunk (read-chunk (:in ws))]
              (ws/codec-feed c chunk)
              (valk.websocket/flush ws)
              (recur)))))))

;; Sends a message: a string as text, bytes as binary. Waits while the
;; other side reads slower than this one sends. Raises :websocket-closed
;; once a close frame went out.
(defn ws/send [ws message]
  (ws/codec-send (:codec ws) message)
  (valk.websocket/flush ws))

;; Sends a ping (the other side answers with a pong, which ws/receive takes).
(defn ws/ping
  ([ws] (ws/ping ws ""))
  ([ws data]
   (ws/codec-ping (:codec ws) data)
   (valk.websocket/flush ws)))

;; Sends a close frame, 1000 by default. A server's connection closes when
;; the handler returns. A client (ws/connect) waits for the server's answer
;; to the close (dropping the messages that come before it), then closes
;; the connection.
(defn ws/close
  ([ws] (ws/close ws 1000 ""))
  ([ws code] (ws/close ws code ""))
  ([ws code reason]
   (ws/codec-close (:codec ws) code reason)
   (valk.websocket/flush ws)
   (when (map? (:out ws))
     (try
       (loop [] (when (ws/receive ws) (recur)))
       (finally
         (http/close (:out ws))
         (ws/codec-free (:codec ws)))))))

;; {:code 1000 :reason "bye"} from the other side's close frame (:code nil
;; if it gave none), or nil before it came.
(defn ws/close-status [ws]
  (ws/codec-close-status (:codec ws)))
