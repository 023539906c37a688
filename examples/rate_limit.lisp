;; An API whose clients get 5 requests a minute each, counted in Redis, so
;; the limit holds across every worker and every valk process that shares
;; the Redis server (behind a load balancer, say).
;;
;;   REDIS_URL=redis://127.0.0.1:6379 build/valk serve examples/rate_limit.lisp
;;   for i in 1 2 3 4 5 6; do
;;     curl -s -o /dev/null -w '%{http_code}\n' -H 'x-api-key: k1' http://127.0.0.1:8084/quote
;;   done                                   # 200 five times, then 429

(import "valk/web")

(defonce redis (redis/connect (or (getenv "REDIS_URL") "redis://127.0.0.1:6379")))

(def limit 5)
(def window-s 60)

(defn address [req]  ; "10.0.0.7:51234" -> "10.0.0.7"
  (let [addr (:remote-addr req)]
    (subs addr 0 (last-index-of addr ":"))))

;; A fixed window per client (its API key, else its address), begun by its
;; first request: INCR counts, EXPIRE NX starts the minute only once, TTL
;; tells how much is left. In one redis/multi, nothing else runs between.
(defn wrap-rate-limit [handler]
  (fn [req]
    (let [client (or (get-in req [:headers "x-api-key"]) (address req))
          key (str "rate:" client)
          [n _ ttl] (await (redis/multi redis [["INCR" key]
                                               ["EXPIRE" key window-s "NX"]
                                               ["TTL" key]]))]
      (if (> n limit)
        (-> (json {:error "too many requests" :retry-after-s ttl} 429)
            (header "retry-after" (str ttl)))
        (-> (await (handler req))
            (header "x-ratelimit-remaining" (str (- limit n))))))))

(def quotes ["Simple things should be simple." "Make it work, make it right, make it fast."])

(def app
  (-> (router
        (GET "/quote" (fn [req] (json {:quote (rand-nth quotes)}))))
      (wrap-rate-limit)))

(serve app {:port 8084})
