;; WebSockets: an echo service and a page that talks to it.
;; Run it with: build/valk serve examples/websocket.lisp
;; then open http://127.0.0.1:8086/ in a browser, or from Python
;; (Debian's python3-websockets):
;;   python3 -c 'import asyncio, websockets
;;   async def main():
;;       async with websockets.connect("ws://127.0.0.1:8086/echo") as ws:
;;           await ws.send("hello"); print(await ws.recv())
;;   asyncio.run(main())'

(import "valk/web")
(import "valk/websocket")

;; Each message comes back as it was sent: text as text, binary as binary.
;; "count" also tells how many messages this connection has sent. The loop
;; ends when the client closes (ws/receive gives nil); the server's close
;; frame and the connection's end follow. Messages go compressed
;; (permessage-deflate) with clients that offer it, as browsers do.
(defn echo [req]
  (websocket req {:max-message 65536 :compress true}
             (fn [ws]
               (loop [n 1]
                 (when-let [message (ws/receive ws)]
                   (ws/send ws (if (= message "count") (str "messages: " n) message))
                   (recur (inc n)))))))

(def page
  [:html
   [:head [:title "valk: WebSocket echo"]]
   [:body
    [:h1 "Echo"]
    [:form {:id "send"} [:input {:id "text" :autocomplete "off"}] [:button "Send"]]
    [:p {:id "state"} "connecting"]
    [:ol {:id "echoes"}]
    [:script (raw "const state = document.getElementById('state');
const echoes = document.getElementById('echoes');
const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/echo');
ws.onopen = () => { state.textContent = 'open'; };
ws.onclose = (e) => { state.textContent = 'closed ' + e.code; };
ws.onmessage = (e) => {
  const li = document.createElement('li');
  li.textContent = e.data;
  echoes.appendChild(li);
};
document.getElementById('send').onsubmit = (e) => {
  e.preventDefault();
  const text = document.getElementById('text');
  ws.send(text.value);
  text.value = '';
};")]]])

(def app
  (router
    (GET "/" (fn [req] (html page)))
    (GET "/echo" echo)))

(serve app {:port 8086})
