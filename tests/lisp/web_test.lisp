;; Tests of lisp/valk/web.lisp and its natives: handlers are driven
;; directly with request maps, no server involved. The examples of
;; docs/web.md are run by the docs.web test.

(import "valk/test")
(import "valk/web")

(defn req
  ([method path] (req method path {}))
  ([method path more] (merge {:method method :path path :headers {} :request-id "r-1"} more)))

(defn echo-params [r] {:status 200 :body (:params r) :route (:route r)})

;; The error message of what `thunk` raises, or nil.
(defn raised-message [thunk]
  (try (do (thunk) nil)
       (catch e (if (error? e) (error-message e) (pr-str e)))))

;; ---------------------------------------------------------------------------
;; Strings

(deftest url-decode-percent-and-plus
  (is (= "a b" (url-decode "a%20b")))
  (is (= "a+b" (url-decode "a+b")))
  (is (= "a b" (url-decode "a+b" true)))
  (is (= "é/?" (url-decode "%C3%a9%2F%3F")))
  (is (= "plain" (url-decode "plain"))))

(deftest url-decode-malformed-escapes-are-kept
  (is (= "100%" (url-decode "100%")))
  (is (= "%4" (url-decode "%4")))
  (is (= "%zz%4g" (url-decode "%zz%4g")))
  (is (= "%%41" (url-decode "%%2541")) "only one level of decoding")
  (is (= "%A" (url-decode "%%41"))))

(deftest url-decode-invalid-utf8-becomes-replacement-chars
  (is (= "\uFFFD" (url-decode "%FF")))
  (is (= "a\uFFFD\uFFFDb" (url-decode "a%C0%AFb")) "overlong")
  (is (= "\uFFFD\uFFFD\uFFFD" (url-decode "%ED%A0%80")) "surrogate")
  (is (= "\uFFFD" (url-decode "%E2%82")) "truncated")
  (is (= "\uFFFDA" (url-decode "%E2A")))
  (is (= "\uFFFD!" (url-decode "%F0%9F%98!")) "one replacement per maximal subpart")
  (is (= "😀" (url-decode "%F0%9F%98%80")))
  (is (= "€" (url-decode "%E2%82%AC"))))

(deftest url-encode-everything-but-unreserved
  (is (= "AZaz09-._~" (url-encode "AZaz09-._~")))
  (is (= "a%20b%2Bc%26d%3De%2Ff%3F%25" (url-encode "a b+c&d=e/f?%")))
  (is (= "%C3%A9" (url-encode "é")))
  (is (= "x y/é" (url-decode (url-encode "x y/é")))))

(deftest escape-html-every-special-char
  (is (= "&amp;&lt;&gt;&quot;&#39;" (escape-html "&<>\"'")))
  (is (= "a &amp;amp; b" (escape-html "a &amp; b")))
  (is (= "nothing to do é" (escape-html "nothing to do é"))))

;; Header lookups ignore the case of the name asked for and of the map's
;; names, and tell an absent header (nil) from an empty one.
(deftest get-header-in-any-case
  (let [r {:headers {"content-type" "text/plain" "x-empty" ""}}
        handwritten {:headers {"Content-Type" "text/html" "X-Count" "2"}}]
    (is (= "text/plain" (get-header r "content-type")))
    (is (= "text/plain" (get-header r "Content-Type")))
    (is (= "" (get-header r "x-empty")))
    (is (nil? (get-header r "accept")))
    (is (= "text/html" (get-header handwritten "content-type")))
    (is (= "2" (get-header handwritten "X-COUNT")))
    (is (nil? (get-header handwritten "content-length")))
    (is (nil? (get-header {} "accept")))
    (is (nil? (get-header {:headers {"Content-Typ" "x"}} "content-type")) "a prefix is not the name")
    (is (= :type-error (:type (error-data (try (get-header r :accept) (catch e e))))))))

;; ---------------------------------------------------------------------------
;; Routing

(deftest router-static-and-param-routes
  (let [app (router (GET "/" (fn [r] "root"))
                    (GET "/users" (fn [r] "list"))
                    (GET "/users/:id" echo-params)
                    (GET "/users/:id/posts/:post" echo-params))]
    (is (= "root" (app (req :get "/"))))
    (is (= "list" (app (req :get "/users"))))
    (is (= {:id "42"} (:body (app (req :get "/users/42")))))
    (is (= "/users/:id" (:route (app (req :get "/users/42")))))
    (is (= {:id "7" :post "x"} (:body (app (req :get "/users/7/posts/x")))))
    (is (= 404 (:status (app (req :get "/users/7/posts")))))
    (is (= 404 (:status (app (req :get "/nope")))))))

(deftest router-decodes-each-segment
  (let [app (router (GET "/files/:name/:rev" echo-params) (GET "/café" (fn [r] "cafe")))]
    (is (= {:name "a/b c" :rev "é+"} (:body (app (req :get "/files/a%2Fb%20c/%C3%A9+")))))
    (is (= "cafe" (app (req :get "/caf%C3%A9"))))
    (is (= {:name "100%" :rev "x"} (:body (app (req :get "/files/100%/x")))))))

(deftest router-params-merge-over-existing
  (let [app (router (GET "/a/:x" (fn [r] (:params r))))]
    (is (= {:x "1" :y "outer"} (app (req :get "/a/1" {:params {:y "outer" :x "old"}}))))))

(deftest router-static-beats-param-beats-wildcard
  (let [app (router (GET "/users/new" (fn [r] "new"))
                    (GET "/users/:id" (fn [r] "param"))
                    (GET "/users/*rest" (fn [r] "wild")))]
    (is (= "new" (app (req :get "/users/new"))))
    (is (= "param" (app (req :get "/users/old"))))
    (is (= "wild" (app (req :get "/users/a/b"))))
    (is (= "wild" (app (req :get "/users"))))))

;; Static patterns are looked up by the whole path before the trie is
;; walked; what they answer must not differ from the walk's answer.
(deftest router-static-paths-found-whole-match-like-the-walk
  (let [app (router (GET "/users/new" echo-params)
                    (POST "/users/:id" echo-params)
                    (GET "/a%2Fb" (fn [r] "encoded slash"))
                    (GET "/100%25" (fn [r] "percent")))]
    (is (= {} (:body (app (req :get "/users/new")))))
    (is (= "/users/new" (:route (app (req :get "/users/new")))))
    (is (= {:y "outer"} (:body (app (req :get "/users/new" {:params {:y "outer"}})))))
    (is (= {} (:body (app (req :head "/users/new")))) "HEAD takes the GET route")
    (is (= {:id "new"} (:body (app (req :post "/users/new")))) "another method walks the trie")
    (is (= {} (:body (app (req :get "/users/%6Eew")))) "an encoded path is decoded, then walked")
    (is (= 404 (:status (app (req :get "/users/new/")))))
    (is (= "encoded slash" (app (req :get "/a%2Fb"))))
    (is (= 404 (:status (app (req :get "/a/b")))) "a decoded slash is not a separator")
    (is (= "percent" (app (req :get "/100%25"))))
    (is (= "percent" (app (req :get "/100%"))) "a malformed escape is kept as it is")))

(deftest router-backtracks-out-of-a-dead-end
  (let [app (router (GET "/a/b/d" (fn [r] "static"))
                    (GET "/a/:x/c" echo-params))]
    (is (= "static" (app (req :get "/a/b/d"))))
    (is (= {:x "b"} (:body (app (req :get "/a/b/c")))))))

(deftest router-backtracks-by-method
  (let [app (router (POST "/a/b" (fn [r] "post static"))
                    (GET "/a/:x" (fn [r] "get param")))]
    (is (= "post static" (app (req :post "/a/b"))))
    (is (= "get param" (app (req :get "/a/b"))))
    (let [resp (app (req :delete "/a/b"))]
      (is (= 405 (:status resp)))
      (is (= "GET, HEAD, POST, OPTIONS" (get (:headers resp) "allow"))))))

(deftest router-wildcard
  (let [app (router (GET "/static/*path" echo-params))]
    (is (= {:path "css/site.css"} (:body (app (req :get "/static/css/site.css")))))
    (is (= {:path "a b/c"} (:body (app (req :get "/static/a%20b/c")))))
    (is (= {:path ""} (:body (app (req :get "/static")))))
    (is (= {:path ""} (:body (app (req :get "/static/")))))
    (is (= {:path "a/"} (:body (app (req :get "/static/a/")))))
    (is (= 404 (:status (app (req :get "/other")))))))

(deftest router-trailing-slash-and-empty-segments
  (let [app (router (GET "/users" (fn [r] "users"))
                    (GET "/users/:id" echo-params)
                    (GET "/dir/" (fn [r] "dir")))]
    (is (= 404 (:status (app (req :get "/users/")))) "a param never matches an empty segment")
    (is (= 404 (:status (app (req :get "/users//")))))
    (is (= "dir" (app (req :get "/dir/"))))
    (is (= 404 (:status (app (req :get "/dir")))))
    (is (= 404 (:status (app (req :get "users")))) "a path must start with /")))

(deftest router-404-body
  (let [resp ((router (GET "/" (fn [r] "x"))) (req :get "/missing"))]
    (is (= 404 (:status resp)))
    (is (= "Not Found\n" (:body resp)))
    (is (= "text/plain; charset=utf-8" (get (:headers resp) "content-type")))))

(deftest router-405-lists-allowed-methods
  (let [app (router (GET "/items" (fn [r] "list"))
                    (POST "/items" (fn [r] "create"))
                    (DELETE "/items/:id" (fn [r] "delete"))
                    (PUT "/items/:id" (fn [r] "put")))]
    (let [resp (app (req :patch "/items"))]
      (is (= 405 (:status resp)))
      (is (= "GET, HEAD, POST, OPTIONS" (get (:headers resp) "allow")))
      (is (= "Method Not Allowed\n" (:body resp))))
    (is (= "PUT, DELETE, OPTIONS" (get (:headers (app (req :get "/items/3"))) "allow")))))

(deftest router-head-uses-get-unless-a-head-route-exists
  (let [app (router (GET "/a" (fn [r] (str "get " (name (:method r)))))
                    (GET "/b" (fn [r] "get b"))
                    (HEAD "/b" (fn [r] "head b")))]
    (is (= "get head" (app (req :head "/a"))))
    (is (= "head b" (app (req :head "/b"))))
    (is (= "get b" (app (req :get "/b"))))))

(deftest router-answers-options
  (let [app (router (GET "/a" (fn [r] "a"))
                    (POST "/a" (fn [r] "a"))
                    (GET "/b" (fn [r] "b"))
                    (OPTIONS "/b" (fn [r] "custom options"))
                    (PUT "/c" (fn [r] "c")))]
    (let [resp (app (req :options "/a"))]
      (is (= 204 (:status resp)))
      (is (= "GET, HEAD, POST, OPTIONS" (get (:headers resp) "allow"))))
    (is (= "custom options" (app (req :options "/b"))))
    (is (= "PUT, OPTIONS" (get (:headers (app (req :options "/c"))) "allow")))
    (is (= 404 (:status (app (req :options "/zzz")))))
    (is (= "GET, HEAD, POST, PUT, OPTIONS" (get (:headers (app (req :options "*"))) "allow")))))

(deftest router-any-matches-every-method-after-specific-ones
  (let [app (router (ANY "/x" (fn [r] (str "any " (name (:method r)))))
                    (GET "/x" (fn [r] "get")))]
    (is (= "get" (app (req :get "/x"))))
    (is (= "get" (app (req :head "/x"))))
    (is (= "any post" (app (req :post "/x"))))
    (is (= "any options" (app (req :options "/x"))))
    (is (= "any propfind" (app (req :propfind "/x"))))))

(deftest router-custom-methods
  (let [app (router (route :propfind "/dav/*path" echo-params) (GET "/dav/*path" echo-params))]
    (is (= {:path "a/b"} (:body (app (req :propfind "/dav/a/b")))))
    (is (= "GET, HEAD, OPTIONS, PROPFIND" (get (:headers (app (req :post "/dav/a"))) "allow")))))

(deftest router-conflicts-name-both-patterns
  (let [msg (raised-message (fn [] (router (GET "/a/:x" echo-params) (GET "/a/:y" echo-params))))]
    (is (includes? msg "/a/:x"))
    (is (includes? msg "/a/:y"))
    (is (includes? msg "conflict")))
  (is-thrown? :route-conflict (router (GET "/a/:x/b" echo-params) (GET "/a/:y/b" echo-params)))
  (is-thrown? :route-conflict (router (POST "/f/*x" echo-params) (POST "/f/*y" echo-params)))
  (is-thrown? :route-conflict (router (GET "/" echo-params) (GET "/" echo-params)))
  (is-thrown? :route-conflict (router (ANY "/s" echo-params) (ANY "/s" echo-params)))
  (is (fn? (router (GET "/a/:x" echo-params) (POST "/a/:y" echo-params))) "different methods")
  (is (fn? (router (GET "/a/:x" echo-params) (ANY "/a/:y" echo-params))) "GET and ANY")
  (is (fn? (router (GET "/a/:x" echo-params) (GET "/a/*y" echo-params))) "param and wildcard")
  (is (fn? (router (GET "/a/:x" echo-params) (GET "/a/x" echo-params))) "param and static"))

(deftest router-pattern-literals-are-decoded
  (let [app (router (GET "/a%20b/:x" echo-params))]
    (is (= {:x "1"} (:body (app (req :get "/a%20b/1")))))
    (is (= {:x "2"} (:body (app (req :get "/a b/2"))))))
  (is-thrown? :route-conflict (router (GET "/a b" echo-params) (GET "/a%20b" echo-params))))

(deftest router-rejects-bad-patterns-and-handlers
  (is-thrown? :route-error (GET "users" echo-params))
  (is-thrown? :route-error (GET "/a/*rest/b" echo-params))
  (is-thrown? :route-error (GET "/a/:/b" echo-params))
  (is-thrown? :route-error (GET "/a/*" echo-params))
  (is-thrown? :route-error (GET "/a/:x/:x" echo-params))
  (is-thrown? :route-error (GET "/a" nil))
  (is-thrown? :route-error (router (GET "/a" echo-params) "not a route"))
  (is (includes? (raised-message (fn [] (GET "/a" nil))) "GET /a")))

(deftest router-flattens-nested-routes-and-skips-nil
  (let [app (router [(GET "/a" (fn [r] "a")) (list (GET "/b" (fn [r] "b")))]
                    nil
                    (when false (GET "/c" (fn [r] "c"))))]
    (is (= "a" (app (req :get "/a"))))
    (is (= "b" (app (req :get "/b"))))
    (is (= 404 (:status (app (req :get "/c")))))))

(deftest context-prefixes-patterns
  (let [app (router (context "/api"
                             (GET "/" (fn [r] "api root"))
                             (GET "/users/:id" echo-params)
                             (context "/v2/" (GET "/x" (fn [r] "v2 x")))))]
    (is (= "api root" (app (req :get "/api"))))
    (is (= {:id "3"} (:body (app (req :get "/api/users/3")))))
    (is (= "/api/users/:id" (:route (app (req :get "/api/users/3")))))
    (is (= "v2 x" (app (req :get "/api/v2/x"))))
    (is (= 404 (:status (app (req :get "/users/3")))))))

(deftest router-handlers-may-await
  (let [app (wrap-content-type
              (router (GET "/slow" (fn [r] (await (sleep 1)) "slept"))
                      (GET "/promise" (fn [r] (spawn (fn [] (await (sleep 1)) "from a promise"))))))]
    (is (= "slept" (:body (app (req :get "/slow")))))
    (is (= "from a promise" (:body (app (req :get "/promise")))))))

(deftest router-many-routes
  (let [routes (map (fn [i] (GET (str "/r" i "/:id/x" i) (fn [r] (str i ":" (get-in r [:params :id])))))
                    (range 300))
        app (apply router routes)]
    (is (= "0:a" (app (req :get "/r0/a/x0"))))
    (is (= "299:b" (app (req :get "/r299/b/x299"))))
    (is (= 404 (:status (app (req :get "/r299/b/x298")))))))

;; ---------------------------------------------------------------------------
;; Query strings and forms

(deftest parse-query-decodes-and-groups
  (is (= {:a "1" :b "x y"} (parse-query "a=1&b=x+y")))
  (is (= {:q "a+b&c" :name "é"} (parse-query "q=a%2Bb%26c&name=%C3%A9")))
  (is (= {:a ["1" "2" "3"] :b "x"} (parse-query "a=1&b=x&a=2&a=3")))
  (is (= {:flag "" :k "v=w"} (parse-query "flag&k=v=w")))
  (is (= {:a "1" :b "2"} (parse-query "&a=1&&b=2&")))
  (is (= {:pct "100%" :bad "%zz"} (parse-query "pct=100%&bad=%zz")))
  (is (= {(keyword "a b") "c"} (parse-query "a+b=c")))
  (is (= {:x ""} (parse-query "x=")))
  (is (= {} (parse-query "")))
  (is (= {} (parse-query nil))))

(deftest query-string-round-trips
  (is (= "a=1&b=x%20y&b=%26" (query-string {:b ["x y" "&"] :a 1})))
  (is (= {:a "1" :b ["x y" "&"]} (parse-query (query-string {:b ["x y" "&"] :a 1})))))

(deftest wrap-params-query-and-form
  (let [app (wrap-params (fn [r] [(:query r) (:form r)]))]
    (is (= [{:a "1"} {:name "Ada Lovelace" :tag ["x" "y"]}]
           (app (req :post "/" {:query-string "a=1"
                                :headers {"content-type" "application/x-www-form-urlencoded; charset=UTF-8"}
                                :body "name=Ada+Lovelace&tag=x&tag=y"}))))
    (is (= [{} {}] (app (req :post "/" {:headers {"content-type" "text/plain"} :body "a=1"}))))
    (is (= [{} {}] (app (req :get "/"))))))

;; ---------------------------------------------------------------------------
;; JSON

(deftest wrap-json-body-parses-json-requests
  (let [app (wrap-json-body (fn [r] {:status 200 :body [(:json-body r) (:body r)]}))]
    (is (= [{:name "Ada" :tags ["x"]} "{\"name\":\"Ada\",\"tags\":[\"x\"]}"]
           (:body (app (req :post "/" {:headers {"content-type" "application/json"}
                                       :body "{\"name\":\"Ada\",\"tags\":[\"x\"]}"})))))
    (is (= [[1 2] "[1,2]"]
           (:body (app (req :post "/" {:headers {"content-type" "application/merge-patch+json; charset=utf-8"}
                                       :body "[1,2]"})))))
    (is (= [nil nil] (:body (app (req :post "/" {:headers {"content-type" "application/json"}})))))
    (is (= [nil ""] (:body (app (req :post "/" {:headers {"content-type" "application/json"} :body ""})))))
    (is (= [nil "{\"a\":1}"]
           (:body (app (req :post "/" {:headers {"content-type" "text/plain"} :body "{\"a\":1}"}))))
        "other content types are left alone")))

(deftest wrap-json-body-string-keys-option
  (let [app (wrap-json-body (fn [r] (:json-body r)) {:keywordize false})]
    (is (= {"a" 1} (app (req :post "/" {:headers {"content-type" "application/json"} :body "{\"a\":1}"}))))))

(deftest wrap-json-body-answers-400-on-malformed-json
  (let [called (atom false)
        app (wrap-json-body (fn [r] (reset! called true) "ok"))
        resp (app (req :post "/" {:headers {"content-type" "application/json"} :body "{\"a\": }"}))]
    (is (= 400 (:status resp)))
    (is (= "application/json" (get (:headers resp) "content-type")))
    (is (= "malformed JSON" (:error (json/parse (:body resp)))))
    (is (includes? (:detail (json/parse (:body resp))) "json/parse"))
    (is (= false @called))))

(deftest wrap-json-response-writes-collections
  (let [app (wrap-json-response (fn [r] (if (= (:path r) "/map")
                                          {:status 201 :body {:a [1 2]}}
                                          {:status 200 :body "plain"})))]
    (let [resp (app (req :get "/map"))]
      (is (= 201 (:status resp)))
      (is (= "{\"a\":[1,2]}" (:body resp)))
      (is (= "application/json" (get (:headers resp) "content-type"))))
    (is (= {:status 200 :body "plain"} (app (req :get "/other"))))))

;; ---------------------------------------------------------------------------
;; Cookies

(deftest parse-cookies-header
  (is (= {"a" "1" "b" "x y" "c" "q"} (parse-cookies "a=1; b=x%20y;c=\"q\"")))
  (is (= {"a" "first"} (parse-cookies "a=first; a=second")))
  (is (= {"k" "v=w"} (parse-cookies "junk; k=v=w; =nokey")))
  (is (= {} (parse-cookies nil))))

(deftest set-cookie-header-attributes
  (is (= "sid=abc" (set-cookie-header "sid" "abc")))
  (is (= "sid=a%20b%3Bc; Path=/; Domain=example.com; Max-Age=3600; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; HttpOnly; SameSite=Lax"
         (set-cookie-header "sid" {:value "a b;c" :path "/" :domain "example.com" :max-age 3600
                                   :expires "Wed, 21 Oct 2026 07:28:00 GMT" :secure true
                                   :http-only true :same-site "Lax"})))
  (is (= "gone=; Max-Age=0" (set-cookie-header "gone" {:value "" :max-age 0})))
  (is (= "x=1; SameSite=Strict; Partitioned"
         (set-cookie-header "x" {:value 1 :secure false :same-site :strict :partitioned true})))
  (is-thrown? :cookie-error (set-cookie-header "bad name" "v"))
  (is-thrown? :cookie-error (set-cookie-header "ok" {:value "v" :path "/; Domain=evil"}))
  (is-thrown? :cookie-error (set-cookie-header "ok" {:value "v" :same-site "sometimes"}))
  (is-thrown? :cookie-error (set-cookie-header "ok" {:value "v" :same-site :none}))
  (is (= "ok=v; Secure; SameSite=None" (set-cookie-header "ok" {:value "v" :same-site :none :secure true}))))

(deftest wrap-cookies-round-trip
  (let [app (wrap-cookies
              (fn [r]
                {:status 200
                 :headers {"set-cookie" "existing=1"}
                 :body (get (:cookies r) "theme")
                 :cookies {"theme" {:value "dark; blue" :path "/" :http-only true}
                           "lang" "fr"}}))
        resp (app (req :get "/" {:headers {"cookie" "theme=light"}}))
        set-cookies (get (:headers resp) "set-cookie")]
    (is (= "light" (:body resp)))
    (is (= ["existing=1" "lang=fr" "theme=dark%3B%20blue; Path=/; HttpOnly"] set-cookies))
    (is (= nil (:cookies resp)))
    ;; The browser sends back name=value of each cookie.
    (let [cookie-header (join "; " (map (fn [c] (first (split c ";"))) set-cookies))
          again (app (req :get "/" {:headers {"cookie" cookie-header}}))]
      (is (= "dark; blue" (:body again))))))

(deftest wrap-session-keeps-a-session-in-the-shared-store
  (let [app (wrap-session
              (fn [r]
                (case (:path r)
                  "/login" {:status 200 :body "in" :session {:user "ann" :visits 0}}
                  "/visit" {:status 200 :body (str (:user (:session r)))
                            :session (update (:session r) :visits inc)}
                  "/me" {:status 200 :body (pr-str (:session r))}
                  "/logout" {:status 200 :body "out" :session nil})))
        login (app (req :get "/login" {:scheme :https}))
        [set-cookie] (get-header login "set-cookie")
        cookie (first (split set-cookie ";"))
        id (subs cookie (count "valk-session="))
        with-cookie (fn [path] (app (req :get path {:headers {"cookie" (str "a=1; " cookie)}})))]
    (is (= 22 (count id)) "a random token")
    (is (= (str cookie "; Path=/; Max-Age=86400; Secure; HttpOnly; SameSite=Lax") set-cookie))
    (is (= {:user "ann" :visits 0} (store/get (str "valk.session/" id))))
    ;; Stored again under the same id: no new cookie.
    (let [visit (with-cookie "/visit")]
      (is (= "ann" (:body visit)))
      (is (nil? (get-header visit "set-cookie")))
      (is (nil? (:session visit))))
    (is (= "{:user \"ann\", :visits 1}" (:body (with-cookie "/me"))))
    ;; Ended: gone from the store, the cookie cleared.
    (let [out (with-cookie "/logout")]
      (is (= ["valk-session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]
             (get-header out "set-cookie")))
      (is (nil? (store/get (str "valk.session/" id)))))
    (is (= "{}" (:body (with-cookie "/me"))) "an id the store does not know is no session")
    (is (= "{}" (:body (app (req :get "/me")))))
    ;; A forged id that is not in the store gets a new one, not its own.
    (let [forged (app (req :get "/login" {:headers {"cookie" "valk-session=guess"}}))]
      (is (not (includes? (first (get-header forged "set-cookie")) "guess"))))))

(deftest wrap-session-options-and-expiry
  (let [app (wrap-session (fn [r] (if (= "/set" (:path r))
                                    {:status 200 :body "" :session {:n 1}}
                                    {:status 200 :body (pr-str (:session r))}))
                          {:cookie-name "sid" :ttl-ms 200 :path "/app" :same-site :strict})
        [set-cookie] (get-header (app (req :get "/set")) "set-cookie")
        cookie (first (split set-cookie ";"))
        written (now-ms)]
    (is (starts-with? set-cookie "sid="))
    (is (ends-with? set-cookie "; Path=/app; Max-Age=1; HttpOnly; SameSite=Strict")
        "over http: not Secure; Max-Age in whole seconds, rounded up")
    (is (= "{:n 1}" (:body (app (req :get "/" {:headers {"cookie" cookie}})))))
    (loop [] (when (< (now-ms) (+ written 250)) (await (sleep 10)) (recur)))
    (is (= "{}" (:body (app (req :get "/" {:headers {"cookie" cookie}})))) "expired")))

(deftest wrap-cookies-replaces-any-spelling-of-set-cookie
  (let [app (wrap-cookies (fn [r] {:status 200 :headers {"Set-Cookie" ["a=1" "b=2"]} :cookies {"c" "3"}}))
        empty-app (wrap-cookies (fn [r] {:status 200 :headers {} :cookies {}}))]
    (is (= {"set-cookie" ["a=1" "b=2" "c=3"]} (:headers (app (req :get "/")))))
    (is (= {:status 200 :headers {}} (empty-app (req :get "/"))))))

(deftest wrap-cookies-without-cookies
  (let [app (wrap-cookies (fn [r] (str (count (:cookies r)))))]
    (is (= {:status 200 :headers {"content-type" "text/plain; charset=utf-8"} :body "0"}
           (app (req :get "/"))))))

;; ---------------------------------------------------------------------------
;; Content type, errors, CORS, access log

(deftest wrap-content-type-defaults
  (let [app (fn [body headers] (wrap-content-type (fn [r] {:status 200 :headers headers :body body})))]
    (is (= "text/css; charset=utf-8"
           (get-header ((app "x" {}) (req :get "/static/site.CSS")) "content-type")))
    (is (= "text/plain; charset=utf-8" (get-header ((app "x" {}) (req :get "/a.unknown")) "content-type")))
    (is (= "text/plain; charset=utf-8" (get-header ((app "x" {}) (req :get "/v1.2/x")) "content-type")))
    (is (= "image/png" (get-header ((app "x" {"Content-Type" "image/png"}) (req :get "/a.css")) "content-type")))
    (is (= nil (get-header ((app nil {}) (req :get "/a.css")) "content-type")))
    (is (= "text/html; charset=utf-8"
           (get-header ((wrap-content-type (fn [r] {:body "x"}) "text/html; charset=utf-8") (req :get "/a.css"))
                       "content-type")))))

(deftest mime-type-by-extension
  (is (= "application/wasm" (mime-type "/app/x.wasm")))
  (is (= nil (mime-type "/.hidden")))
  (is (= nil (mime-type "/noext"))))

(deftest wrap-errors-answers-500-with-the-request-id
  (let [logged (atom [])
        app (wrap-errors (fn [r] (error "boom" {:x 1}))
                         {:log (fn [r e] (swap! logged conj (error-message e)))})
        resp (app (req :get "/" {:request-id "req-7"}))]
    (is (= 500 (:status resp)))
    (is (includes? (:body resp) "req-7"))
    (is (= "req-7" (get-in resp [:headers "x-request-id"])))
    (is (= ["boom"] @logged))
    (let [jresp (app (req :get "/" {:request-id "req-8" :headers {"accept" "application/json"}}))]
      (is (= {:error "internal server error" :request-id "req-8"} (json/parse (:body jresp)))))))

(deftest wrap-errors-custom-render-and-pass-through
  (let [app (wrap-errors (fn [r] (if (= (:path r) "/ok") "fine" (throw :not-an-error)))
                         {:render (fn [r e] (text (str "sorry " (pr-str e)) 503)) :log (fn [r e] nil)})]
    (is (= "fine" (app (req :get "/ok"))))
    (is (= {:status 503 :headers {"content-type" "text/plain; charset=utf-8"} :body "sorry :not-an-error"}
           (app (req :get "/fail"))))))

(deftest wrap-errors-lets-cancellation-through
  (let [app (wrap-errors (fn [r] (error "stop" {:type :cancelled})) {:log (fn [r e] nil)})]
    (is-thrown? :cancelled (app (req :get "/")))))

(deftest wrap-errors-catches-errors-after-await
  (let [app (wrap-errors (fn [r] (await (sleep 1)) (error "late")) {:log (fn [r e] nil)})]
    (is (= 500 (:status (app (req :get "/")))))))

(deftest wrap-cors-preflight-and-simple-requests
  (let [app (wrap-cors (fn [r] {:status 200 :headers {"x" "1"} :body "hi"})
                       {:origins ["https://a.example"] :max-age 600 :expose ["x"]})
        pre (app (req :options "/api" {:headers {"origin" "https://a.example"
                                                 "access-control-request-method" "PUT"
                                                 "access-control-request-headers" "content-type"}}))]
    (is (= 204 (:status pre)))
    (is (= {"access-control-allow-origin" "https://a.example"
            "vary" "Origin"
            "access-control-allow-methods" "GET, HEAD, POST, PUT, PATCH, DELETE"
            "access-control-allow-headers" "content-type"
            "access-control-max-age" "600"}
           (:headers pre)))
    (is (= {"x" "1" "access-control-allow-origin" "https://a.example" "vary" "Origin"
            "access-control-expose-headers" "x"}
           (:headers (app (req :get "/api" {:headers {"origin" "https://a.example"}})))))
    (is (= {"x" "1" "vary" "Origin"}
           (:headers (app (req :get "/api" {:headers {"origin" "https://evil.example"}})))))
    (is (= {"x" "1" "vary" "Origin"} (:headers (app (req :get "/api")))))))

(deftest wrap-cors-appends-to-vary
  (let [app (wrap-cors (fn [r] {:status 200 :headers {"Vary" "Accept-Encoding"} :body "x"})
                       {:origins ["https://a.example"]})
        app2 (wrap-cors (fn [r] {:status 200 :headers {"vary" "origin"} :body "x"})
                        {:origins ["https://a.example"]})]
    (is (= {"vary" "Accept-Encoding, Origin" "access-control-allow-origin" "https://a.example"}
           (:headers (app (req :get "/" {:headers {"origin" "https://a.example"}})))))
    (is (= {"vary" "origin"} (:headers (app2 (req :get "/")))))))

(deftest wrap-cors-any-origin-and-credentials
  (let [any (wrap-cors (fn [r] "hi"))
        creds (wrap-cors (fn [r] "hi") {:credentials true :methods [:get]})]
    (is (= "*" (get-in (any (req :get "/" {:headers {"origin" "https://b.example"}}))
                       [:headers "access-control-allow-origin"])))
    (let [resp (creds (req :options "/" {:headers {"origin" "https://b.example"
                                                    "access-control-request-method" "GET"}}))]
      (is (= "https://b.example" (get-in resp [:headers "access-control-allow-origin"])))
      (is (= "true" (get-in resp [:headers "access-control-allow-credentials"])))
      (is (= "GET" (get-in resp [:headers "access-control-allow-methods"]))))))

(deftest wrap-access-log-line
  (let [lines (atom [])
        app (wrap-access-log (fn [r] (status "x" 201)) (fn [line] (swap! lines conj line)))]
    (app (req :get "/users/7" {:query-string "a=1" :remote-addr "127.0.0.1:5000"
                               :protocol "HTTP/2" :request-id "r-42"}))
    (is (= 1 (count @lines)))
    (is (starts-with? (first @lines) "127.0.0.1:5000 \"GET /users/7?a=1 HTTP/2\" 201 "))
    (is (ends-with? (first @lines) "ms r-42"))))

;; ---------------------------------------------------------------------------
;; Helpers

(deftest response-helpers
  (is (= {:status 200 :headers {"content-type" "text/plain; charset=utf-8"} :body "hi"} (text "hi")))
  (is (= 201 (:status (text "made" 201))))
  (is (= {:status 200 :headers {"content-type" "application/json"} :body "{\"a\":[1,null]}"}
         (json {:a [1 nil]})))
  (is (= 422 (:status (json {:error "x"} 422))))
  (is (= {:status 302 :headers {"location" "/login"} :body nil} (redirect "/login")))
  (is (= 301 (:status (redirect "/new" 301))))
  (is (= {:status 404 :headers {"content-type" "text/plain; charset=utf-8"} :body "Not Found\n"} (not-found)))
  (is (= "no such user" (:body (not-found "no such user"))))
  (is (= {:status 400 :headers {"content-type" "text/plain; charset=utf-8"} :body "bad"} (bad-request "bad")))
  (is (= {:status 400 :headers {"content-type" "application/json"} :body "{\"error\":\"name is required\"}"}
         (bad-request {:error "name is required"}))))

(deftest status-and-header-on-any-result
  (is (= 201 (:status (status {:status 200 :body "x"} 201))))
  (is (= {:status 202 :headers {"content-type" "text/plain; charset=utf-8"} :body "s"} (status "s" 202)))
  (is (= 404 (:status (status nil 404))))
  (is (= {"x-trace" "t1" "content-type" "text/plain; charset=utf-8"}
         (:headers (header "s" "X-Trace" "t1"))))
  (is (= "3" (get-in (header {:body ""} "content-length" 3) [:headers "content-length"])))
  (is (= ["a" "b"] (get-in (header {} "set-cookie" ["a" "b"]) [:headers "set-cookie"])))
  (is (= {"content-type" "text/html"} (:headers (header {:headers {"Content-Type" "x"}} "content-type" "text/html"))))
  (is (= {"a" "1"} (:headers (header {:headers {"a" "1" "X-Gone" "y"}} "x-gone" nil)))))

(deftest get-header-is-case-insensitive
  (is (= "v" (get-header {:headers {"x-a" "v"}} "X-A")))
  (is (= "v" (get-header {:headers {"X-A" "v"}} "x-a")))
  (is (= nil (get-header {:headers {}} "x-a")))
  (is (= nil (get-header {} "x-a"))))

(deftest as-response-normalises
  (is (= (text "s") (as-response "s")))
  (is (= 404 (:status (as-response nil))))
  (is (= {:body "m"} (as-response {:body "m"}))))

(deftest html-helper
  (is (= {:status 200 :headers {"content-type" "text/html; charset=utf-8"} :body "<p>x</p>"}
         (html [:p "x"])))
  (is (= "<b>trusted</b>" (:body (html "<b>trusted</b>"))))
  (is (= "<!DOCTYPE html><html><body>hi</body></html>" (:body (html [:html [:body "hi"]]))))
  (is (= 404 (:status (html [:h1 "gone"] 404)))))

;; ---------------------------------------------------------------------------
;; HTML from data

(deftest html-str-elements-and-escaping
  (is (= "<h1 class=\"x\">Hi <em>there</em></h1>" (html-str [:h1 {:class "x"} "Hi " [:em "there"]])))
  (is (= "<p>&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;</p>"
         (html-str [:p "<script>alert(\"x\" & 'y')</script>"])))
  (is (= "<a href=\"/q?a=1&amp;b=&quot;2&quot;\" title=\"&lt;&gt;&#39;\">l</a>"
         (html-str [:a {:href "/q?a=1&b=\"2\"" :title "<>'"} "l"])))
  (is (= "<div></div>" (html-str [:div])))
  (is (= "<p>1 2.5 kw</p>" (html-str [:p 1 " " 2.5 " " :kw]))))

(deftest html-str-void-elements
  (is (= "<br>" (html-str [:br])))
  (is (= "<img alt=\"\" src=\"a.png\">" (html-str [:img {:src "a.png" :alt ""}])))
  (is (= "<p>a<br>b<hr></p>" (html-str [:p "a" [:br] "b" [:hr]])))
  (is-thrown? :html-error (html-str [:br "text"])))

(deftest html-str-raw-seqs-and-nil
  (is (= "<div><b>bold</b>&lt;i&gt;</div>" (html-str [:div (raw "<b>bold</b>") "<i>"])))
  (is (= "<ul><li>1</li><li>2</li><li>3</li></ul>"
         (html-str [:ul (for [i [1 2 3]] [:li i])])))
  (is (= "<ul><li>a</li><li>b</li></ul>" (html-str [:ul (map (fn [x] [:li x]) ["a" "b"])])))
  (is (= "<p>ab</p>" (html-str [:p nil "a" false (when false "x") ["b"] []])))
  (is (= "<p>1</p><p>2</p>" (html-str [:p 1] [:p 2])))
  (is (= "" (html-str nil))))

(deftest html-str-tag-shorthand-and-attributes
  (is (= "<div id=\"main\" class=\"a b\">x</div>" (html-str [:div#main.a.b "x"])))
  (is (= "<span class=\"a extra more\"></span>" (html-str [:span.a {:class ["extra" :more]}])))
  (is (= "<input id=\"n\" class=\"c\" checked name=\"q\" type=\"checkbox\">"
         (html-str [:input {:type "checkbox" :name "q" :checked true :disabled false :hidden nil
                            :class "c" :id "n"}])))
  (is (= "<p style=\"color: red; margin: 0\"></p>" (html-str [:p {:style {:margin 0 :color "red"}}])))
  (is (= "<p data-x=\"1\"></p>" (html-str [:p {"data-x" 1}])))
  (is-thrown? :html-error (html-str [:p {"on click" "x"}]))
  (is-thrown? :html-error (html-str [:p {:a 1} {:b 2}]))
  (is-thrown? :html-error (html-str [(keyword "#x")]))
  (is-thrown? :html-error (html-str [(keyword "p#a b")]))
  (is-thrown? :html-error (html-str [(keyword "p.x\"y")]))
  (is-thrown? :html-error (html-str [:p {1 "one"}])))

(deftest html-str-id-and-class-sources
  (is (= "<p id=\"from-attr\"></p>" (html-str [:p {:id "from-attr"}])))
  (is (= "<p id=\"tag\"></p>" (html-str [:p#tag {:id "attr"}])) "the tag's id wins")
  (is (= "<p class=\"a\"></p>" (html-str [:p.a {:class nil}])))
  (is (= "<p class=\"a\"></p>" (html-str [:p.a {:class false}])))
  (is (= "<p class=\"x\" title=\"&lt;\"></p>" (html-str [:p {"class" "x" "title" "<"}])))
  (is (= "<p>true</p>" (html-str [:p true]))))

(deftest html-str-deep-nesting-and-size
  (let [deep (loop [i 0 node "core"] (if (= i 20000) node (recur (inc i) [:b node])))
        out (html-str deep)]
    (is (= (+ 4 (* 20000 7)) (count out)))
    (is (starts-with? out "<b><b>"))
    (is (includes? out "<b>core</b>")))
  (let [rows (html-str [:table (for [i (range 200)] [:tr [:td i]])])]
    (is (= 201 (count (split rows "<tr>"))) "200 rows after the head")
    (is (ends-with? rows "<tr><td>199</td></tr></table>"))))


;; ---------------------------------------------------------------------------
;; Compression

(def long-text (apply str (repeat 200 "compressible text ")))

(deftest gzip-and-gunzip-round-trip
  (let [g (gzip long-text)]
    (is (bytes? g))
    (is (< (count g) 200))
    (is (= long-text (bytes->string (gunzip g))))
    (is (= long-text (bytes->string (gunzip (gzip (string->bytes long-text) 1)))))
    (is (= "" (bytes->string (gunzip (gzip "")))))
    (is (< (count (gzip long-text 9)) (count (gzip long-text 1))) "level 9 is smaller")))

(deftest gunzip-refuses-bad-data-and-bombs
  (is (= "gunzip: not gzip data" (raised-message #(gunzip "plain text"))))
  (is (= "gunzip: unpacks to more bytes than the limit"
         (raised-message #(gunzip (gzip long-text) 100))))
  (is (= :decode-error (:type (error-data (try (gunzip "x") (catch e e))))))
  (is (= "gzip: expected a level from 1 to 9, got int" (raised-message #(gzip "x" 0)))))

(defn gz-app [body & more]
  (wrap-gzip (fn [r] (merge {:status 200 :headers {"content-type" "text/html; charset=utf-8"}
                             :body body}
                            (first more)))))

(def accepts {:headers {"accept-encoding" "gzip, deflate, br"}})

(deftest wrap-gzip-compresses-for-clients-that-take-it
  (let [resp ((gz-app long-text {:headers {"content-type" "text/html" "etag" "\"v1\""
                                           "content-length" "3600"}})
              (req :get "/" accepts))]
    (is (= "gzip" (get-header resp "content-encoding")))
    (is (= "Accept-Encoding" (get-header resp "vary")))
    (is (= "W/\"v1\"" (get-header resp "etag")))
    (is (nil? (get-header resp "content-length")))
    (is (= long-text (bytes->string (gunzip (:body resp)))))))

(deftest wrap-gzip-reads-accept-encoding-q-values
  (let [app (gz-app long-text)
        coded? (fn [accept]
                 (= "gzip" (get-header (app (req :get "/" {:headers {"accept-encoding" accept}}))
                                       "content-encoding")))]
    (is (coded? "GZIP"))
    (is (coded? "br;q=1.0, gzip;q=0.5"))
    (is (coded? "*"))
    (is (coded? "x-gzip"))
    (is (not (coded? "gzip;q=0")))
    (is (not (coded? "gzip; q=0.000")))
    (is (not (coded? "*;q=0")))
    (is (not (coded? "*, gzip;q=0")))
    (is (not (coded? "identity")))
    (is (not (coded? "br")))))

(deftest wrap-gzip-leaves-what-it-should-not-compress
  (let [plain? (fn [resp] (and (nil? (get-header resp "content-encoding")) (string? (:body resp))))]
    (is (plain? ((gz-app "short") (req :get "/" accepts))) "under :min-size")
    (is (plain? ((gz-app long-text {:headers {"content-type" "image/png"}}) (req :get "/" accepts))))
    (is (plain? ((gz-app long-text {:status 206}) (req :get "/" accepts))))
    (let [br ((gz-app long-text {:headers {"content-type" "text/plain" "content-encoding" "br"}})
              (req :get "/" accepts))]
      (is (= "br" (get-header br "content-encoding")))
      (is (string? (:body br))))
    (is (plain? ((gz-app long-text {:headers {"content-type" "text/plain"
                                                "cache-control" "public, no-transform"}})
                 (req :get "/" accepts))))
    (is (plain? ((gz-app long-text) (req :get "/"))) "no accept-encoding")
    (is (= "Accept-Encoding" (get-header ((gz-app long-text) (req :get "/")) "vary"))
        "a response that could be compressed varies on accept-encoding")
    (is (nil? (get-header ((gz-app "short") (req :get "/" accepts)) "vary")))))

(deftest wrap-gzip-options-and-types
  (let [app (wrap-gzip (fn [r] (json {:items (vec (range 300))})) {:min-size 10 :level 1})
        resp (app (req :get "/" accepts))]
    (is (= "gzip" (get-header resp "content-encoding")))
    (is (= (vec (range 300)) (:items (json/parse (bytes->string (gunzip (:body resp))))))))
  (is (= "gzip" (get-header ((wrap-gzip (fn [r] "tiny") {:min-size 0}) (req :get "/" accepts))
                            "content-encoding"))))

(run-tests)
