;; Redis commands per second from one isolate: FIBERS fibers (64) at once,
;; each awaiting its commands in turn, over one connection (so up to 64
;; in flight). Run by bench/redis/commands.sh with the server's URL as the
;; argument.
(def url (first *command-line-args*))
(def fibers (parse-long (or (getenv "FIBERS") "64")))
(def n (parse-long (or (getenv "COMMANDS") "200000")))
(def r (redis/connect url))
(await (redis/cmd r "SET" "key:0" "xxx"))

(defn run [label f]
  (let [per-fiber (quot n fibers)
        t0 (now-ms)]
    (await (all (map (fn [w] (spawn #(dotimes [i per-fiber] (f i)))) (range fibers))))
    (println (str label "\t" (quot (* 1000 per-fiber fibers) (max 1 (- (now-ms) t0)))))))

(run "set" (fn [i] (await (redis/cmd r "SET" "key:0" "xxx"))))
(run "get" (fn [i] (await (redis/cmd r "GET" "key:0"))))
(redis/close r)
