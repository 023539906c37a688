;; The server's side of valk/websocket, for tests/websocket/websocket_test.py
;; (run with --threads 1: `seen` is one worker's).

(import "valk/web")
(import "valk/websocket")

;; What the handlers saw, by name, for the test to ask about at /seen.
(def seen (atom {}))
(defn note! [k v] (swap! seen assoc k v))

(defn receive-all [ws]
  (loop [] (when (ws/receive ws) (recur))))

(def app
  (router
    (GET "/seen" (fn [req] (json @seen)))
    (GET "/echo" (fn [req] (websocket req (fn [ws]
                                            (loop []
                                              (when-let [m (ws/receive ws)]
                                                (ws/send ws m)
                                                (recur)))))))
    ;; Echoes with permessage-deflate, up to 64 KiB a message.
    (GET "/compressed" (fn [req] (websocket req {:compress true :max-message 65536}
                                            (fn [ws]
                                              (loop []
                                                (when-let [m (ws/receive ws)]
                                                  (ws/send ws m)
                                                  (recur)))))))
    ;; Takes pages of http://good.example too, or of anywhere.
    (GET "/origins" (fn [req] (websocket req {:origins ["http://good.example"]} receive-all)))
    (GET "/any-origin" (fn [req] (websocket req {:origins :any} receive-all)))
    ;; Pings every 100 ms.
    (GET "/pings" (fn [req] (websocket req {:ping-interval-ms 100} receive-all)))
    ;; Closes first, with a code and reason of its own.
    (GET "/server-close" (fn [req] (websocket req (fn [ws] (ws/close ws 4002 "server says bye")))))
    ;; Raises after the first message: the client gets 1011.
    (GET "/raise" (fn [req] (websocket req (fn [ws]
                                              (ws/receive ws)
                                              (throw (ex-info "handler broke" {}))))))
    ;; Keeps the client's close status, and what a send after it raises.
    (GET "/status" (fn [req] (websocket req (fn [ws]
                                               (receive-all ws)
                                               (note! :status (ws/close-status ws))
                                               (try (ws/send ws "too late")
                                                    (catch e (note! :late-send (:type (error-data e)))))))))
    ;; The subprotocol chosen: the server's preference among the client's.
    (GET "/protocols" (fn [req] (websocket req {:protocols ["b" "a"] :headers {"x-extra" "1"}}
                                           (fn [ws] (ws/send ws (str (:protocol ws))) (receive-all ws)))))
    ;; One fiber sends ticks while this one echoes.
    (GET "/ticker" (fn [req] (websocket req (fn [ws]
                                               (let [ticks (spawn (fn [] (dotimes [i 5]
                                                                           (await (sleep 20))
                                                                           (ws/send ws (str "tick " i)))))]
                                                 (loop []
                                                   (when-let [m (ws/receive ws)]
                                                     (ws/send ws m)
                                                     (recur)))
                                                 (cancel ticks))))))
    ;; Sends and never receives; counts, in `finally`, the handlers
    ;; cancelled because their client left.
    (GET "/finally" (fn [req] (websocket req (fn [ws]
                                                (try (loop [] (ws/send ws "x") (await (sleep 20)) (recur))
                                                     (finally (swap! seen update :left (fnil inc 0))))))))
    ;; Sends `n` messages of `size` bytes as fast as ws/send lets it.
    (GET "/flood" (fn [req] (websocket req (fn [ws]
                                              (let [n (parse-long (get-in req [:query :n]))
                                                    size (parse-long (get-in req [:query :size]))
                                                    chunk (apply str (repeat size "x"))]
                                                (dotimes [i n] (ws/send ws chunk))
                                                (note! :flood-sent n)
                                                (receive-all ws))))))))

(serve (wrap-params app) {:port 0})
