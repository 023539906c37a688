;; Redis: redis/connect cmd multi close, against the server
;; tests/redis/redis.sh starts (CTest's fixture sets VALK_TEST_REDIS_DIR to
;; its directory: a Unix socket there, the TCP port in its `port` file,
;; and that of TLS in `tls_port`).
(import "valk/test")
(import "valk/web")

(def dir (or (getenv "VALK_TEST_REDIS_DIR")
             (error "VALK_TEST_REDIS_DIR is not set: run this suite with ctest, or start a server with tests/redis/redis.sh")))
(def unix-url (str "unix://" dir "/redis.sock"))
(def port (parse-long (trim (await (file/read (str dir "/port"))))))
(def tcp-url (str "redis://127.0.0.1:" port))
(def tls-port (parse-long (trim (await (file/read (str dir "/tls_port"))))))
(def tls-url (str "rediss://localhost:" tls-port))

;; Keys of this run's own: the stress run (VALK_GC_STRESS=1) may run at
;; the same time, on the same server.
(def prefix (str "t" (or (getenv "VALK_GC_STRESS") 0) ":" (now-ms) ":"))
(defn k [name] (str prefix name))

(def r (redis/connect unix-url))
(defn cmd [& words] (await (apply redis/cmd r words)))
(defn failure [p] (try (await p) :not-rejected (catch e [(error-message e) (error-data e)])))

(deftest replies-of-each-kind
  (is (= "OK" (cmd "SET" (k "s") "hello")) "a status")
  (is (= "hello" (cmd "GET" (k "s"))) "a bulk string")
  (is (= nil (cmd "GET" (k "missing"))) "nil")
  (is (= 3 (cmd "RPUSH" (k "l") "a" "b" "c")) "an integer")
  (is (= ["a" "b" "c"] (cmd "LRANGE" (k "l") 0 -1)) "an array")
  (let [[cursor keys] (cmd "SCAN" 0 "MATCH" (k "l") "COUNT" 1000)]
    (is (string? cursor) "arrays nest")
    (is (vector? keys)))
  (cmd "SET" (k "raw") (gzip "hello"))
  (let [raw (cmd "GET" (k "raw"))]
    (is (bytes? raw) "bytes that are not UTF-8 come back as bytes")
    (is (= "hello" (bytes->string (gunzip raw)))))
  (is (= "é" (do (cmd "SET" (k "u") "é") (cmd "GET" (k "u"))))))

(deftest arguments-of-each-kind
  (is (= "OK" (cmd :set (k "kw") :value)))
  (is (= "value" (cmd "GET" (k "kw"))) "keywords go as their names")
  (is (= 42 (cmd "INCRBY" (k "n") 42)))
  (is (= "43.5" (cmd "INCRBYFLOAT" (k "n") 1.5)))
  (is (= :type-error (:type (error-data (try (redis/cmd r "SET" (k "m") {:a 1}) (catch e e))))))
  (is (= :arity-error (:type (error-data (try (redis/cmd r) (catch e e)))))))

(deftest error-replies-reject-with-their-code
  (cmd "SET" (k "str") "x")
  (let [[message data] (failure (redis/cmd r "LPUSH" (k "str") "y"))]
    (is (= {:type :redis-error :kind :reply :code "WRONGTYPE"} data))
    (is (starts-with? message "redis/cmd: WRONGTYPE")))
  (is (= "ERR" (:code (second (failure (redis/cmd r "NOSUCHCOMMAND")))))))

(deftest commands-that-would-change-the-shared-connection-are-refused
  (doseq [name ["MULTI" "exec" "WATCH" "SUBSCRIBE" "select" "MONITOR" "QUIT"]]
    (let [e (try (redis/cmd r name "x") (catch e e))]
      (is (= :redis-error (:type (error-data e))) name)
      (is (includes? (error-message e) "every fiber shares") name))))

(deftest many-commands-are-in-flight-at-once-and-answered-in-order
  (let [replies (await (all (vec (map (fn [_] (redis/cmd r "INCR" (k "many"))) (range 1000)))))]
    (is (= (vec (range 1 1001)) replies)))
  ;; From many fibers at once.
  (let [fibers (vec (map (fn [i] (spawn (fn [] (cmd "SET" (k (str "f" i)) i) (cmd "GET" (k (str "f" i))))))
                         (range 100)))]
    (is (= (vec (map str (range 100))) (await (all fibers))))))

(deftest multi-runs-its-commands-with-nothing-between
  ;; Two transactions of 50 INCRs each, made at once: each one's values
  ;; follow each other.
  (let [incrs (vec (repeat 50 ["INCR" (k "tx")]))
        [a b] (await (all [(redis/multi r incrs) (redis/multi r incrs)]))]
    (is (= 50 (count a)))
    (is (= (vec (range (first a) (+ (first a) 50))) a))
    (is (= (vec (range (first b) (+ (first b) 50))) b))
    (is (= 100 (parse-long (cmd "GET" (k "tx"))))))
  (is (= ["OK" 1] (await (redis/multi r [["SET" (k "tx2") "v"] ["EXISTS" (k "tx2")]]))))
  (do ;; a command that fails inside: an error value in its place
    (cmd "SET" (k "txs") "x")
    (let [[ok e] (await (redis/multi r [["INCR" (k "txn")] ["LPUSH" (k "txs") "y"]]))]
      (is (= 1 ok))
      (is (error? e))
      (is (= "WRONGTYPE" (:code (error-data e))))))
  (do ;; a command Redis would not queue: nothing runs
    (let [[message data] (failure (redis/multi r [["SET" (k "never") "1"] ["NOSUCH"]]))]
      (is (= :reply (:kind data)))
      (is (includes? message "unknown command")))
    (is (= nil (cmd "GET" (k "never"))))))

(deftest databases-are-chosen-by-url-or-option
  (let [d2 (redis/connect (str unix-url "?db=2"))
        d3 (redis/connect {:path (str dir "/redis.sock") :db 3})]
    (await (redis/cmd d2 "SET" (k "where") "two"))
    (await (redis/cmd d3 "SET" (k "where") "three"))
    (is (= "two" (await (redis/cmd d2 "GET" (k "where")))))
    (is (= "three" (await (redis/cmd d3 "GET" (k "where")))))
    (is (= nil (cmd "GET" (k "where"))))
    (redis/close d2)
    (redis/close d3)))

(deftest tcp-and-users
  (let [t (redis/connect tcp-url)
        user (str "alice_" (or (getenv "VALK_GC_STRESS") 0) "_" (now-ms))]
    (is (= "PONG" (await (redis/cmd t "PING"))))
    (await (redis/cmd t "ACL" "SETUSER" user "on" ">s3cret" "~*" "+@all"))
    (let [alice (redis/connect (str "redis://" user ":s3cret@127.0.0.1:" port "/1"))]
      (is (= user (await (redis/cmd alice "ACL" "WHOAMI"))))
      (is (= "OK" (await (redis/cmd alice "SET" (k "by-alice") "1"))))
      (redis/close alice))
    (do ;; a refused AUTH: what waited behind it never runs
      (let [mallory (redis/connect {:port port :username user :password "wrong"})
            [message data] (failure (redis/cmd mallory "SET" (k "by-mallory") "1"))]
        (is (= :connection (:kind data)))
        (is (includes? message "WRONGPASS") message)
        (is (= nil (await (redis/cmd t "GET" (k "by-mallory")))))
        (redis/close mallory)))
    (redis/close t)))

(deftest connections-that-cannot-be-made-say-why
  (let [[message data] (failure (redis/cmd (redis/connect {:path (str dir "/nope.sock")}) "PING"))]
    (is (= {:type :redis-error :kind :connection} data))
    (is (includes? message "no such file or directory") message))
  (let [[message data] (failure (redis/cmd (redis/connect "redis://127.0.0.1:1") "PING"))]
    (is (= :connection (:kind data)))
    (is (includes? message "connection refused") message))
  (let [[message data] (failure (redis/cmd (redis/connect "redis://nosuchhost.invalid") "PING"))]
    (is (= :connection (:kind data)))
    (is (includes? message "cannot find the Redis host nosuchhost.invalid") message))
  (is (= :type-error (:type (error-data (try (redis/connect "http://x") (catch e e))))))
  (is (includes? (error-message (try (redis/connect {:path "/x.sock" :tls true}) (catch e e)))
                 "not a Unix socket"))
  (is (= :type-error (:type (error-data (try (redis/connect {:prot 1}) (catch e e)))))))

(deftest a-lost-connection-fails-what-is-in-flight-and-the-next-command-connects-again
  (let [c (redis/connect unix-url)
        id (await (redis/cmd c "CLIENT" "ID"))
        blocked (redis/cmd c "BLPOP" (k "empty") 10)]
    (await (sleep 50))
    (cmd "CLIENT" "KILL" "ID" id)
    (let [[message data] (failure blocked)]
      (is (= :connection (:kind data)) message))
    (is (= "PONG" (await (redis/cmd c "PING"))) "connected again")
    (is (not= id (await (redis/cmd c "CLIENT" "ID"))))
    (redis/close c)))

;; :command-timeout-ms: a reply that does not come in time (BLPOP blocks
;; the server's side of the connection) ends the connection and fails what
;; it owed; the next command connects again. Without it, the wait is the
;; server's.
(deftest a-reply-later-than-the-command-timeout-ends-the-connection
  (let [t (redis/connect {:url tcp-url :command-timeout-ms 200})
        started (now-ms)
        blocked (redis/cmd t "BLPOP" (k "never-pushed") 5)
        behind (redis/cmd t "PING")
        [message data] (failure blocked)]
    (is (= :connection (:kind data)))
    (is (includes? message "did not answer within 200 ms") message)
    (is (< (- (now-ms) started) 2000))
    (is (= :connection (:kind (second (failure behind)))) "owed behind it")
    (is (= "PONG" (await (redis/cmd t "PING"))) "a new connection")
    (is (nil? (await (redis/cmd t "BLPOP" (k "never-pushed") 0.05))) "in time: no timeout")
    (redis/close t))
  (let [t (redis/connect {:url tcp-url})]
    (is (nil? (await (redis/cmd t "BLPOP" (k "never-pushed") 0.3))) "no timeout by default")
    (redis/close t)))

(deftest a-cancelled-command-leaves-the-connection-answering-the-others
  (let [c (redis/connect unix-url)
        blocked (redis/cmd c "BLPOP" (k "slow") 1)
        after (redis/cmd c "ECHO" "mine")]
    (is (= :timeout (:type (error-data (try (await (timeout 50 blocked)) (catch e e))))))
    (is (= "mine" (await after)) "the stale reply goes to nobody")
    (redis/close c)))

(deftest closing
  (let [c (redis/connect unix-url)
        in-flight (redis/cmd c "BLPOP" (k "never-pushed") 5)]
    (await (sleep 20))
    (redis/close c)
    (is (= :connection (:kind (second (failure in-flight)))))
    (is (includes? (error-message (try (redis/cmd c "PING") (catch e e))) "closed"))
    (redis/close c)))

;; An app reloaded without defonce drops its connection: it closes once
;; the collector finds it unreachable and no reply is awaited.
(deftest a-connection-nobody-keeps-closes
  (let [name (str "orphan_" (or (getenv "VALK_GC_STRESS") 0) "_" (now-ms))
        open? #(includes? (cmd "CLIENT" "LIST") (str "name=" name " "))]
    (let [dropped (redis/connect unix-url)]
      (await (redis/cmd dropped "CLIENT" "SETNAME" name))
      (is (open?) "connected"))
    (loop [i 0]
      (when (and (< i 40) (open?))
        (dotimes [_ 20000] (vec (range 8)))
        (await (sleep 5))
        (recur (inc i))))
    (is (not (open?)) "closed once collected")))

;; Two apps on two connections, as two processes would be, share sessions.
(deftest sessions-in-redis-are-seen-by-every-process
  (let [make (fn []
               (wrap-session
                 (fn [req]
                   (case (:path req)
                     "/login" {:status 200 :body "welcome" :session {:user "ann" :visits 1}}
                     "/logout" {:status 200 :body "bye" :session nil}
                     {:status 200 :body (str "hello " (get-in req [:session :user] "stranger"))}))
                 {:store (redis-session-store (redis/connect unix-url)) :ttl-ms 60000}))
        a (make)
        b (make)
        cookie (-> (a {:method :get :path "/login" :headers {}})
                   (get-header "set-cookie") first (split ";") first)
        key (str "valk.session/" (second (split cookie "=")))]
    (is (= "hello ann" (:body (b {:method :get :path "/" :headers {"cookie" cookie}}))))
    (is (= {:user "ann" :visits 1} (json/parse (cmd "GET" key))) "JSON in Redis")
    (is (< 50000 (cmd "PTTL" key) 60001) "expiring with the session")
    (is (= "bye" (:body (b {:method :get :path "/logout" :headers {"cookie" cookie}}))))
    (is (= nil (cmd "GET" key)))
    (is (= "hello stranger" (:body (a {:method :get :path "/" :headers {"cookie" cookie}}))))))

;; Waits (up to 5 s) until (f) is true.
(defn until [f] (loop [i 0] (when (and (not (f)) (< i 1000)) (await (sleep 5)) (recur (inc i)))))
(defn subscribers [channel] (second (cmd "PUBSUB" "NUMSUB" channel)))
(defn pubsub-clients []
  ;; Lines of "id=7 addr=... cmd=subscribe ...".
  (set (map (fn [line] (second (split (first (split line " ")) "=")))
            (filter #(starts-with? % "id=") (split (cmd "CLIENT" "LIST" "TYPE" "pubsub") "\n")))))

;; rediss://: TLS to the server, its certificate checked against :ca-file
;; (or the system's CAs, which do not know the test CA) and its name, and
;; ours shown (the test server asks for one); with values larger than a
;; TLS record, commands in flight at once, MULTI and a subscription.
(def tls-opts {:url tls-url :ca-file "certs/ca.crt"
               :cert-file "certs/client.crt" :key-file "certs/client.key"})
(deftest over-tls
  (let [t (redis/connect tls-opts)
        big (loop [s "x"] (if (< (count s) 100000) (recur (str s s)) s))]
    (is (= "OK" (await (redis/cmd t "SET" (k "tls") big))))
    (is (= big (await (redis/cmd t "GET" (k "tls")))))
    (is (= (mapv str (range 300))
           (await (all (mapv #(redis/cmd t "ECHO" (str %)) (range 300))))))
    (is (= [1 2] (await (redis/multi t [["INCR" (k "tls-n")] ["INCR" (k "tls-n")]]))))
    (let [got (atom [])
          sub (redis/subscribe tls-opts [(k "tls-news")]
                               (fn [channel message] (swap! got conj message)))]
      (until #(= 1 (subscribers (k "tls-news"))))
      (await (redis/cmd t "PUBLISH" (k "tls-news") "over tls"))
      (until #(= 1 (count @got)))
      (is (= ["over tls"] @got))
      (redis/close sub))
    (redis/close t))
  (let [[message data] (failure (redis/cmd (redis/connect tls-url) "PING"))]
    (is (= :connection (:kind data)))
    (is (includes? message "certificate") message))
  (let [[message data] (failure (redis/cmd (redis/connect {:url (str "rediss://127.0.0.1:" tls-port)
                                                           :ca-file "certs/other.crt"})
                                           "PING"))]
    (is (= :connection (:kind data)))
    (is (includes? message "certificate") message))
  (let [[message data] (failure (redis/cmd (redis/connect (dissoc tls-opts :cert-file :key-file))
                                           "PING"))]
    (is (= :connection (:kind data)) "no certificate for a server that asks for one"))
  (is (includes? (error-message (try (redis/connect (dissoc tls-opts :key-file)) (catch e e)))
                 "go together"))
  (is (includes? (first (failure (redis/cmd (redis/connect (assoc tls-opts :key-file "certs/dev.key"))
                                            "PING")))
                 "could not load the client certificate"))
  (let [t (redis/connect (assoc tls-opts :ca-file nil :insecure true))]  ; nil: as if absent
    (is (= "PONG" (await (redis/cmd t "PING"))) "not verified, but encrypted")
    (redis/close t))
  (let [[message data] (failure (redis/cmd (redis/connect {:url (str "rediss://127.0.0.1:" port)
                                                           :connect-timeout-ms 300})
                                           "PING"))]
    (is (= :connection (:kind data)))
    (is (includes? message "took longer than 300 ms") "the handshake is within the connect timeout"))
  (is (= :type-error (:type (error-data (try (redis/connect {:url 5}) (catch e e)))))))

(deftest subscriptions-take-what-is-published
  (let [got (atom [])
        before (pubsub-clients)
        sub (redis/subscribe unix-url [(k "news") :other-news]
                             (fn [channel message]
                               (when (= message "boom") (error "a broken handler"))
                               (swap! got conj [channel message])))]
    (until #(= 1 (subscribers (k "news"))))
    (is (= 1 (cmd "PUBLISH" (k "news") "one")))
    (cmd "PUBLISH" "other-news" "two")
    (cmd "PUBLISH" (k "unrelated") "three")
    (cmd "PUBLISH" (k "news") "boom")
    (cmd "PUBLISH" (k "news") "after the error")
    (until #(= 3 (count @got)))
    (is (= [[(k "news") "one"] ["other-news" "two"] [(k "news") "after the error"]] @got))
    ;; Lost, it connects and subscribes again (a second later).
    (let [ours (first (remove before (pubsub-clients)))]
      (is (some? ours))
      (cmd "CLIENT" "KILL" "ID" ours)
      (until #(= 0 (subscribers (k "news"))))
      (until #(= 1 (subscribers (k "news")))))
    (cmd "PUBLISH" (k "news") "again")
    (until #(= 4 (count @got)))
    (is (= [(k "news") "again"] (last @got)))
    (redis/close sub)
    (until #(= 0 (subscribers (k "news"))))
    (is (= 0 (cmd "PUBLISH" (k "news") "nobody"))))
  (is (= :type-error (:type (error-data (try (redis/subscribe unix-url [] identity) (catch e e)))))))

(run-tests)
