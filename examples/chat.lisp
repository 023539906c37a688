;; A chat room on Redis's publish and subscribe: a message posted to any
;; worker of any valk process that shares the Redis server reaches every
;; listener of every one, as a server-sent event.
;;
;;   REDIS_URL=redis://127.0.0.1:6379 build/valk serve examples/chat.lisp
;; then open http://127.0.0.1:8085/ in two browsers, or:
;;   curl -N http://127.0.0.1:8085/events &
;;   curl -d '{"from":"ann","text":"hello"}' -H 'content-type: application/json' \
;;        http://127.0.0.1:8085/messages

(import "valk/web")

(def redis-url (or (getenv "REDIS_URL") "redis://127.0.0.1:6379"))
(defonce redis (redis/connect redis-url))

;; This worker's listeners: the streams of their open responses.
(defonce listeners (atom #{}))

;; One subscription per worker; each message goes out to its listeners,
;; each in a fiber of its own so that a slow one holds up nobody.
(defonce subscription
  (redis/subscribe redis-url ["chat"]
                   (fn [_ message]
                     (doseq [out @listeners]
                       (spawn #(send-event out {:event "message" :data message}))))))

;; A listener stays until it goes: the response's fiber is cancelled then,
;; and `finally` lets go of its stream. A comment every 15 s keeps proxies
;; from closing a quiet connection.
(defn listen [req]
  (sse (fn [out]
         (swap! listeners conj out)
         (send-event out {:comment "listening"})
         (try
           (loop []
             (await (sleep 15000))
             (send-event out {:comment "still here"})
             (recur))
           (finally (swap! listeners disj out))))))

(defn post-message [req]
  (let [{:keys [from text]} (:json-body req)]
    (if (and (string? from) (string? text) (< 0 (count text) 1000) (< 0 (count from) 100))
      (do (await (redis/cmd redis "PUBLISH" "chat" (json/write {:from from :text text})))
          {:status 204})
      (json {:error "from and text must be strings (text: 1 to 999 characters)"} 400))))

;; The room in a page: an EventSource adds each message to the list, the
;; form posts one.
(def page
  [:html
   [:head [:title "valk chat"]]
   [:body
    [:h1 "Chat"]
    [:ul {:id "messages"}]
    [:form {:id "send"}
     [:input {:name "from" :placeholder "name" :required true}]
     [:input {:name "text" :placeholder "message" :required true}]
     [:button "Send"]]
    [:script (raw "const list = document.getElementById('messages');
new EventSource('/events').addEventListener('message', (e) => {
  const m = JSON.parse(e.data);
  const li = document.createElement('li');
  li.textContent = m.from + ': ' + m.text;
  list.appendChild(li);
});
document.getElementById('send').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  await fetch('/messages', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({from: form.get('from'), text: form.get('text')})});
  e.target.elements.text.value = '';
});")]]])

(def app
  (-> (router
        (GET "/" (fn [req] (html page)))
        (GET "/events" listen)
        (POST "/messages" post-message))
      (wrap-json-body)))

(serve app {:port 8085})
