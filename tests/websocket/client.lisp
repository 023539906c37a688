;; valk/websocket's client side (ws/connect), run by websocket_test.py with
;; `valk run`: $URL is an echo server's WebSocket, $REFUSE_URL an address
;; that answers without accepting one; with $COMPRESS, permessage-deflate
;; is offered; with $CA, a wss:// server is verified against it. Prints
;; what came.

(import "valk/websocket")

(def opts (merge {:compress (some? (getenv "COMPRESS"))}
                 (when-let [ca (getenv "CA")] {:ca-file ca})))

(let [ws (ws/connect (getenv "URL") opts)]
  (println "compressed:" (:compressed ws))
  (ws/send ws "hello from valk")
  (println "text:" (ws/receive ws))
  (ws/send ws (string->bytes "bytes"))
  (let [b (ws/receive ws)]
    (println "binary:" (bytes? b) (bytes->string b)))
  (ws/send ws (apply str (repeat 60000 "x")))
  (println "large:" (count (ws/receive ws)))
  (ws/ping ws)
  (ws/send ws "after the ping")
  (println "text:" (ws/receive ws))
  (ws/close ws)
  (println "closed:" (try (ws/send ws "late") (catch e (:type (error-data e))))))

(println "refused:"
         (try (ws/connect (getenv "REFUSE_URL") opts)
              (catch e [(:type (error-data e)) (:status (error-data e))])))
