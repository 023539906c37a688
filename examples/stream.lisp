;; Streamed responses and server-sent events.
;; Run it with: build/valk serve examples/stream.lisp
;; then:        curl -N http://127.0.0.1:8080/count?n=5
;;              curl -N http://127.0.0.1:8080/ticks?n=3
;; or open http://127.0.0.1:8080/ in a browser.

(import "valk/web")

(defn query-int [req k default]
  (or (some-> (get-in req [:query k]) parse-long) default))

;; The body goes out a line at a time; `write` waits whenever the client
;; reads slower than the handler writes.
(defn count-lines [req]
  (let [n (query-int req :n 10)]
    (stream (fn [out]
              (dotimes [i n]
                (write out (str "line " (inc i) " of " n "\n"))
                (await (sleep 50)))))))

;; Server-sent events: a numbered tick every 200 ms. A reconnecting browser
;; sends Last-Event-ID, and the count goes on from there.
(defn ticks [req]
  (let [n (query-int req :n 1000000)
        from (or (some-> (get-header req "last-event-id") parse-long) 0)]
    (sse (fn [out]
           (send-event out {:comment "ticks from the valk stream example" :retry 2000})
           (loop [i (inc from)]
             (when (<= i n)
               (send-event out {:event "tick" :id i :data {:n i}})
               (await (sleep 200))
               (recur (inc i))))))))

(def page
  [:html
   [:head [:title "valk: server-sent events"]]
   [:body
    [:h1 "Ticks"]
    [:ol {:id "ticks"}]
    [:script (raw "const list = document.getElementById('ticks');
new EventSource('/ticks').addEventListener('tick', (e) => {
  const li = document.createElement('li');
  li.textContent = e.data;
  list.appendChild(li);
});")]]])

(def app
  (wrap-params
    (router
      (GET "/" (fn [req] (html page)))
      (GET "/count" count-lines)
      (GET "/ticks" ticks))))

(serve app {:port 8080})
