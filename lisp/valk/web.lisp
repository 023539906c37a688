;; valk/web: routing, middleware, response helpers and HTML for `valk serve`.
;;
;;   (import "valk/web")
;;   (def app (-> (router (GET "/" (fn [req] (html [:h1 "Hello"])))
;;                        (GET "/users/:id" (fn [req] (json {:id (get-in req [:params :id])}))))
;;                (wrap-params)
;;                (wrap-errors)))
;;
;; A handler is a function from a request map to a response map, a string
;; (200 text/plain), nil (404) or a promise of one of those; handlers may
;; await. Middleware is a function from handler to handler. docs/web.md is
;; the reference; tests/lisp/web_test.lisp runs every example in it.
;;
;; Public names are unqualified; helpers private to this file are named
;; valk.web/..., as valk/test does.

;; ---------------------------------------------------------------------------
;; Strings (the byte-level work is in src/lisp/builtins_web.cc)

(def url-decode web/url-decode)
(def url-encode web/url-encode)
(def escape-html web/escape-html)

;; ---------------------------------------------------------------------------
;; Responses

(def valk.web/text-type "text/plain; charset=utf-8")
(def valk.web/html-type "text/html; charset=utf-8")
(def valk.web/json-type "application/json")
;; Shared header maps, so that a plain response allocates one map, not two.
(def valk.web/text-headers {"content-type" valk.web/text-type})
(def valk.web/html-headers {"content-type" valk.web/html-type})
(def valk.web/json-headers {"content-type" valk.web/json-type})

(defn text
  ([s] {:status 200 :headers valk.web/text-headers :body s})  ; not (text s 200): a call less
  ([s status] {:status status :headers valk.web/text-headers :body s}))

(defn json
  ([data] (json data 200))
  ([data status] {:status status
                  :headers valk.web/json-headers
                  :body (json/write data)}))

(declare html-str)

;; A string is sent as it is; any other value is rendered with html-str,
;; and a document whose root element is :html gets a doctype.
(defn html
  ([content] (html content 200))
  ([content status]
   {:status status
    :headers valk.web/html-headers
    :body (cond
            (string? content) content
            (valk.web/html-root? content) (str "<!DOCTYPE html>" (html-str content))
            :else (html-str content))}))

(defn redirect
  ([url] (redirect url 302))
  ([url status] {:status status :headers {"location" url} :body nil}))

;; ---------------------------------------------------------------------------
;; Streaming and server-sent events

;; A streamed response. Once the head is out, `f` runs in a fiber of its
;; own with the response stream and writes the body with (write out chunk),
;; a string or bytes; a write waits while the client reads slower than `f`
;; writes. The response ends when `f` returns; if `f` raises, the error is
;; logged and the stream aborted (h2 RST_STREAM, HTTP/1.1 close). When the
;; client leaves, `f` is cancelled at its next write or await. `resp` gives
;; the status and headers (default 200, text/plain).
(defn stream
  ([f] (stream {} f))
  ([resp f] (merge {:status 200 :headers valk.web/text-headers} resp {:body f})))

(def valk.web/sse-headers {"content-type" "text/event-stream"
                           "cache-control" "no-cache"})

;; A stream of server-sent events: `f` gets the stream and sends events
;; with send-event. Headers in `resp` are added to the SSE ones.
(defn sse
  ([f] (sse {} f))
  ([resp f]
   (stream (assoc resp :headers (merge valk.web/sse-headers (:headers resp))) f)))

(defn valk.web/sse-field [field v]
  (let [s (str v)]
    (when (or (includes? s "\n") (includes? s "\r"))
      (throw (ex-info (str "sse-event: the " field " field cannot contain a line break")
                      {:type :sse-error})))
    (str field ": " s "\n")))

(defn valk.web/sse-lines [prefix s]
  (apply str (map (fn [line] (str prefix line "\n")) (split-lines s))))

;; The text of one server-sent event. `event` is the data (a string, or any
;; other value, sent as JSON), or a map with :data and any of :event, :id,
;; :retry (milliseconds) and :comment. Multi-line data becomes several
;; data: lines, as the EventSource reader expects.
(defn sse-event [event]
  (let [ev (if (map? event) event {:data event})
        data (:data ev)
        retry (:retry ev)]
    (when (and retry (not (and (int? retry) (>= retry 0))))
      (throw (ex-info "sse-event: :retry must be a non-negative integer" {:type :sse-error})))
    (str (when-let [c (:comment ev)] (valk.web/sse-lines ": " c))
         (when-let [e (:event ev)] (valk.web/sse-field "event" e))
         (when-let [id (:id ev)] (valk.web/sse-field "id" id))
         (when retry (str "retry: " retry "\n"))
         (cond
           (nil? data) nil
           (string? data) (valk.web/sse-lines "data: " data)
           :else (str "data: " (json/write data) "\n"))
         "\n")))

;; Sends one event (see sse-event); waits like write.
(defn send-event [out event]
  (write out (sse-event event)))

(defn valk.web/error-response [status body]
  (if (or (map? body) (vector? body))
    (json body status)
    (text body status)))

;; Strings give text/plain; maps and vectors give JSON.
(defn not-found
  ([] (text "Not Found\n" 404))
  ([body] (valk.web/error-response 404 body)))

(defn bad-request
  ([] (text "Bad Request\n" 400))
  ([body] (valk.web/error-response 400 body)))

;; What a handler returned, as a response map: a string is 200 text/plain,
;; nil is 404. Anything else (a map, or a stream the server understands) is
;; returned unchanged.
(defn as-response [r]
  (cond
    (map? r) r
    (string? r) (text r)
    (nil? r) (not-found)
    :else r))

(defn status [resp n]
  (assoc (as-response resp) :status n))

;; `headers` without the keys that equal `lname` but for case.
(defn valk.web/without-variants [headers lname]
  (reduce (fn [h k] (if (and (not= k lname) (= lname (lower-case k))) (dissoc h k) h))
          headers (keys headers)))

;; Sets a header, stored lower-case as HTTP/2 sends it (replacing any
;; spelling of it already there); a number becomes a string, a vector of
;; strings is a repeated header, nil removes the header.
(defn header [resp name value]
  (let [resp (as-response resp)
        lname (lower-case name)
        headers (valk.web/without-variants (or (:headers resp) {}) lname)]
    (assoc resp :headers
           (cond
             (nil? value) (dissoc headers lname)
             (or (string? value) (vector? value)) (assoc headers lname value)
             :else (assoc headers lname (str value))))))

;; A header of a request or response map, by case-insensitive name; nil if
;; absent. Request maps always have lower-case names; response maps written
;; by hand may not.
(defn get-header [m name]
  (web/get-header (:headers m) name))

;; Whether header `name` of a request or response map, a comma-separated
;; list (Connection, Upgrade, Vary, ...), holds `token`, in any case.
(defn header-has-token? [m name token]
  (let [v (get-header m name)
        token (lower-case token)]
    (if (and v (some (fn [t] (= (lower-case (trim t)) token)) (split v ","))) true false)))

;; The media type of a content-type value, lower-case, without parameters.
(defn valk.web/media-type [content-type]
  (when content-type
    (let [semi (index-of content-type ";")]
      (lower-case (trim (if semi (subs content-type 0 semi) content-type))))))

(defn valk.web/await-response [handler req]
  (as-response (await (handler req))))

;; ---------------------------------------------------------------------------
;; Routes

(def valk.web/method-order [:get :head :post :put :patch :delete :options])
(def valk.web/standard-methods (set valk.web/method-order))

;; A pattern "/users/:id/files/*path" becomes the segment vector
;; ["users" [:param :id] "files" [:wild :path]]; "/" becomes []. Literal
;; segments are percent-decoded, as request segments are before they are
;; compared, so "/a%20b" and "/a b" are the same pattern.
(defn valk.web/parse-pattern [pattern]
  (when-not (and (string? pattern) (starts-with? pattern "/"))
    (error (str "route pattern must be a string starting with /, got " (pr-str pattern))
           {:type :route-error :pattern pattern}))
  (let [body (subs pattern 1)
        raw (if (= body "") [] (split body "/" -1))
        n (count raw)
        segments (vec (map-indexed
                        (fn [i s]
                          (cond
                            (starts-with? s ":")
                            (if (= s ":")
                              (error (str "route " pattern ": a :param segment needs a name")
                                     {:type :route-error :pattern pattern})
                              [:param (keyword (subs s 1))])
                            (starts-with? s "*")
                            (cond
                              (= s "*") (error (str "route " pattern ": a *rest segment needs a name")
                                               {:type :route-error :pattern pattern})
                              (< i (dec n)) (error (str "route " pattern ": a *rest segment must be the last")
                                                   {:type :route-error :pattern pattern})
                              :else [:wild (keyword (subs s 1))])
                            :else (url-decode s)))
                        raw))
        names (keep (fn [s] (when (vector? s) (second s))) segments)]
    (when-not (= (count names) (count (distinct names)))
      (error (str "route " pattern ": a parameter name is used twice")
             {:type :route-error :pattern pattern}))
    segments))

;; (route :propfind "/dav/*path" handler): a route for any method keyword;
;; :any matches every method.
(defn route [method pattern handler]
  (when-not (keyword? method)
    (error (str "route method must be a keyword, got " (pr-str method)) {:type :route-error}))
  (when-not (fn? handler)
    (error (str (upper-case (name method)) " " pattern ": the handler must be a function, got "
                (pr-str handler))
           {:type :route-error :pattern pattern}))
  {:valk.web/route true
   :method method
   :pattern pattern
   :segments (valk.web/parse-pattern pattern)
   :handler handler})

(defn GET [pattern handler] (route :get pattern handler))
(defn HEAD [pattern handler] (route :head pattern handler))
(defn POST [pattern handler] (route :post pattern handler))
(defn PUT [pattern handler] (route :put pattern handler))
(defn PATCH [pattern handler] (route :patch pattern handler))
(defn DELETE [pattern handler] (route :delete pattern handler))
(defn OPTIONS [pattern handler] (route :options pattern handler))
(defn ANY [pattern handler] (route :any pattern handler))

;; The routes of `items`: route maps, nested vectors or lists of them, and
;; nils (skipped, so `(when dev? (GET ...))` works).
(defn valk.web/flatten-routes [items]
  (reduce (fn [acc x]
            (cond
              (nil? x) acc
              (and (map? x) (:valk.web/route x)) (conj acc x)
              (sequential? x) (into acc (valk.web/flatten-routes x))
              :else (error (str "router: not a route: " (pr-str x)) {:type :route-error})))
          [] items))

;; (context "/api" (GET "/users" h) ...): the routes with the prefix
;; prepended; a route "/" under a context matches the prefix itself.
(defn context [prefix & routes]
  (valk.web/parse-pattern prefix)
  (let [prefix (if (ends-with? prefix "/") (subs prefix 0 (dec (count prefix))) prefix)]
    (mapv (fn [r]
            (let [p (:pattern r)]
              (route (:method r) (if (and (= p "/") (not= prefix "")) prefix (str prefix p))
                     (:handler r))))
          (valk.web/flatten-routes routes))))

;; ---------------------------------------------------------------------------
;; The trie. A node is {:static {"seg" node} :param node :wild {method route}
;; :routes {method route}}. Every pattern with the same shape ends at the same
;; place whatever its parameter names, which is what makes a conflict easy to
;; see; each route carries its own names.

(defn valk.web/insert [root r]
  (let [segs (:segments r)
        method (:method r)
        wild? (and (not (empty? segs)) (= :wild (first (last segs))))
        steps (mapcat (fn [s]
                        (cond
                          (string? s) [:static s]
                          (= :param (first s)) [:param]
                          :else []))
                      segs)
        at (vec (concat steps (if wild? [:wild] [:routes]) [method]))
        old (get-in root at)]
    (when old
      (error (str "route conflict: " (upper-case (name method)) " " (:pattern r)
                  " has the same shape as " (upper-case (name method)) " " (:pattern old))
             {:type :route-conflict :patterns [(:pattern old) (:pattern r)] :method method}))
    (assoc-in root at (assoc r :names (vec (keep (fn [s] (when (vector? s) (second s))) segs))))))

;; The route for `method` among a node's routes: an exact match, GET for
;; HEAD, then ANY.
(defn valk.web/pick [routes method]
  (when routes
    (or (get routes method)
        (when (= method :head) (get routes :get))
        (get routes :any))))

;; Depth-first search: static children before parameters before a wildcard,
;; backtracking when a branch has no route for the method. Returns
;; [route captured-values] or nil.
(defn valk.web/match [node segs i n caps method]
  (if (= i n)
    (or (when-let [r (valk.web/pick (:routes node) method)] [r caps])
        (when-let [r (valk.web/pick (:wild node) method)] [r (conj caps "")]))
    (let [seg (nth segs i)]
      (or (when-let [child (get (:static node) seg)]
            (valk.web/match child segs (inc i) n caps method))
          (when-let [child (:param node)]
            (when-not (= seg "")
              (valk.web/match child segs (inc i) n (conj caps seg) method)))
          (when-let [r (valk.web/pick (:wild node) method)]
            [r (conj caps (join "/" (subvec segs i)))])))))

;; Every method with a route whose pattern matches the path.
(defn valk.web/allowed [node segs i n acc]
  (let [acc (into acc (keys (:wild node)))]
    (if (= i n)
      (into acc (keys (:routes node)))
      (let [seg (nth segs i)
            acc (if-let [child (get (:static node) seg)]
                  (valk.web/allowed child segs (inc i) n acc)
                  acc)]
        (if-let [child (:param node)]
          (if (= seg "") acc (valk.web/allowed child segs (inc i) n acc))
          acc)))))

;; The Allow header for a set of methods: GET implies HEAD, OPTIONS is
;; always answered; the standard methods in their usual order, then others.
(defn valk.web/allow-header [methods]
  (let [methods (conj (if (contains? methods :get) (conj methods :head) methods) :options)
        known (filter (fn [m] (contains? methods m)) valk.web/method-order)
        other (sort (map name (remove (fn [m] (or (= m :any) (contains? valk.web/standard-methods m)))
                                      methods)))]
    (join ", " (concat (map (fn [m] (upper-case (name m))) known)
                       (map upper-case other)))))

(defn valk.web/method-not-allowed [allow]
  {:status 405
   :headers {"allow" allow "content-type" valk.web/text-type}
   :body "Method Not Allowed\n"})

;; Routes whose pattern is static segments only, by the path a request for
;; them has: {"/a/b" {method route}}. A request path found here matches
;; those segments exactly (no segment has a '%' or '/' that decoding could
;; change), and the trie's search, static children first, would reach the
;; same route: the router looks here before it splits and walks.
(defn valk.web/exact-routes [routes]
  (reduce (fn [acc r]
            (let [segs (:segments r)]
              (if (every? (fn [s] (and (string? s) (not (includes? s "%")) (not (includes? s "/"))))
                          segs)
                (assoc-in acc [(str "/" (join "/" segs)) (:method r)] r)
                acc)))
          {} routes))

;; (router route ...): a handler dispatching on method and path. Adds
;; :params (keyword keys, decoded values, merged over any already there)
;; and :route (the pattern that matched) to the request.
(defn router [& routes]
  (let [routes (mapv (fn [r] (assoc r :label (str (upper-case (name (:method r))) " " (:pattern r))))
                     (valk.web/flatten-routes routes))
        root (reduce valk.web/insert {} routes)
        exact (valk.web/exact-routes routes)
        every-method (set (map :method routes))]
    (fn [req]
      (let [path (:path req)
            method (:method req)]
        (cond
          (and (= method :options) (= path "*"))
          {:status 204 :headers {"allow" (valk.web/allow-header every-method)} :body nil}

          (not (string? path))
          (not-found)

          :else
          (if-let [r (let [routes (get exact path)]
                       ;; An exact method hit, the usual case, without the call of pick.
                       (or (get routes method) (valk.web/pick routes method)))]
            ;; A literal route has no parameters: the (empty? names) case below.
            (do (web/label! (:label r))
                ((:handler r) (assoc req :params (or (:params req) {}) :route (:pattern r))))
            (let [segs (web/path-segments path)
                  n (count segs)
                  hit (when segs (valk.web/match root segs 0 n [] method))]
              (if hit
                (let [r (first hit)
                      names (:names r)
                      params (:params req)]
                  (web/label! (:label r))
                  ((:handler r)
                   (assoc req
                          :params (cond
                                    (empty? names) (or params {})
                                    (nil? params) (zipmap names (second hit))
                                    :else (merge params (zipmap names (second hit))))
                          :route (:pattern r))))
                (let [allowed (if segs (valk.web/allowed root segs 0 n #{}) #{})]
                  (cond
                    (empty? allowed) (not-found)
                    (= method :options)
                    {:status 204 :headers {"allow" (valk.web/allow-header allowed)} :body nil}
                    :else (valk.web/method-not-allowed (valk.web/allow-header allowed))))))))))))

;; ---------------------------------------------------------------------------
;; Query strings and forms

;; "a=1&b=x+y&a=2" → {:a ["1" "2"] :b "x y"}. Keys and values are decoded
;; with `+` as a space; a key without `=` gets ""; empty pairs are skipped;
;; a malformed %-escape is kept as it is. nil or "" gives {}. (A native:
;; it runs on every request that has a query string.)
(def parse-query web/parse-query)

;; {:a "1" :b ["x" "y"]} → "a=1&b=x&b=y" (keys in sorted order).
(defn query-string [m]
  (join "&" (mapcat (fn [k]
                      (let [v (get m k)
                            ek (url-encode (name k))]
                        (map (fn [x] (str ek "=" (url-encode (str x))))
                             (if (sequential? v) v [v]))))
                    (sort (keys m)))))

(defn valk.web/form-request? [req]
  (= "application/x-www-form-urlencoded"
     (valk.web/media-type (get (:headers req) "content-type"))))

;; :query from the query string; :form from an urlencoded string body
;; (read with read-body; {} otherwise).
(defn wrap-params [handler]
  (fn [req]
    (let [body (when (valk.web/form-request? req) (read-body req))]
      (handler (assoc req
                      :query (parse-query (:query-string req))
                      :form (if (string? body) (parse-query body) {}))))))

;; ---------------------------------------------------------------------------
;; JSON

(defn valk.web/json-request? [req]
  (let [t (valk.web/media-type (get (:headers req) "content-type"))]
    (and t (or (= t "application/json")
               (and (starts-with? t "application/") (ends-with? t "+json"))))))

;; The 400 answer to a body json/parse refused: {"error": "malformed JSON",
;; "detail": message, "line": n, "column": n} (the position when known).
(defn valk.web/json-error [e]
  (let [data (if (error? e) (error-data e) {})]
    (json (merge {:error "malformed JSON"
                  :detail (if (error? e) (error-message e) (pr-str e))}
                 (select-keys data [:line :column]))
          400)))

;; A request whose content type is application/json (or application/*+json)
;; gets its parsed body as :json-body (read with read-body, so a body that
;; streams in is awaited); :body stays as it was. An empty body gives :json-body nil. A body that is not JSON (or
;; not UTF-8) answers 400 {"error": "malformed JSON", ...} without calling
;; the handler. `opts` goes to json/parse ({:keywordize false} keeps
;; string keys).
(defn wrap-json-body
  ([handler] (wrap-json-body handler nil))
  ([handler opts]
   (fn [req]
     (if-not (valk.web/json-request? req)
       (handler req)
       (let [body (read-body req)
             parsed (if (or (nil? body) (= body ""))
                      [:ok nil]
                      (try
                        [:ok (if opts (json/parse body opts) (json/parse body))]
                        (catch e [:bad e])))]
         (if (= :ok (first parsed))
           (handler (assoc req :json-body (second parsed)))
           (valk.web/json-error (second parsed))))))))

;; A response whose :body is a map or a vector is written as JSON, with
;; content-type application/json unless it already has one.
(defn wrap-json-response [handler]
  (fn [req]
    (let [resp (valk.web/await-response handler req)
          body (when (map? resp) (:body resp))]
      (if (or (map? body) (vector? body))
        (let [resp (assoc resp :body (json/write body))]
          (if (get-header resp "content-type")
            resp
            (header resp "content-type" valk.web/json-type)))
        resp))))

;; ---------------------------------------------------------------------------
;; Cookies

;; "a=1; b=\"x%20y\"" → {"a" "1" "b" "x y"}: names as sent, values
;; unquoted and percent-decoded. The first of two equal names wins (the
;; browser sends the most specific first); pairs without `=` are skipped.
(def parse-cookies web/parse-cookies)

(defn valk.web/cookie-name-ok? [s]
  (and (string? s) (not= s "")
       (not-any? (fn [c] (includes? s c))
                 ["(" ")" "<" ">" "@" "," ";" ":" "\\" "\"" "/" "[" "]" "?" "=" "{" "}" " " "\t"
                  "\r" "\n"])))

(defn valk.web/attr-value [cookie-name attr v]
  (let [s (if (keyword? v) (name v) (str v))]
    (when (or (includes? s ";") (includes? s "\r") (includes? s "\n"))
      (error (str "cookie " cookie-name ": the " attr " attribute may not contain ; or a line break")
             {:type :cookie-error :cookie cookie-name}))
    s))

(defn valk.web/same-site [v]
  (let [s (lower-case (name v))]
    (cond
      (= s "lax") "Lax"
      (= s "strict") "Strict"
      (= s "none") "None"
      :else (error (str "cookie :same-site must be Lax, Strict or None, got " (pr-str v))
                   {:type :cookie-error}))))

;; One Set-Cookie value. `spec` is a string (the value) or a map with
;; :value and the attributes :path :domain :max-age :expires :secure
;; :http-only :same-site :partitioned. The value is percent-encoded, which
;; parse-cookies undoes.
(defn set-cookie-header [cookie-name spec]
  (when-not (valk.web/cookie-name-ok? cookie-name)
    (error (str "invalid cookie name " (pr-str cookie-name)) {:type :cookie-error}))
  (let [spec (if (map? spec) spec {:value spec})
        attr (fn [k label]
               (when-some [v (get spec k)]
                 (str "; " label "=" (valk.web/attr-value cookie-name label v))))
        flag (fn [k label] (when (get spec k) (str "; " label)))]
    (str cookie-name "=" (url-encode (str (or (:value spec) "")))
         (attr :path "Path")
         (attr :domain "Domain")
         (attr :max-age "Max-Age")
         (attr :expires "Expires")
         (flag :secure "Secure")
         (flag :http-only "HttpOnly")
         (when-some [s (:same-site spec)]
           (let [v (valk.web/same-site s)]
             (when (and (= v "None") (not (:secure spec)))
               (error (str "cookie " cookie-name ": SameSite=None needs :secure true (browsers drop it otherwise)")
                      {:type :cookie-error :cookie cookie-name}))
             (str "; SameSite=" v)))
         (flag :partitioned "Partitioned"))))

;; `resp` with Set-Cookie values added after any it has.
(defn valk.web/add-set-cookies [resp values]
  (let [old (get-header resp "set-cookie")]
    (header resp "set-cookie"
            (vec (concat (cond (nil? old) [] (string? old) [old] :else old) values)))))

;; Request: :cookies from the Cookie header. Response: :cookies
;; {"name" "value"} or {"name" {:value "v" :path "/" ...}} becomes
;; set-cookie headers (a vector, after any the response already has).
(defn wrap-cookies [handler]
  (fn [req]
    (let [resp (valk.web/await-response
                 handler (assoc req :cookies (parse-cookies (get (:headers req) "cookie"))))]
      (cond
        (not (and (map? resp) (contains? resp :cookies))) resp
        (empty? (:cookies resp)) (dissoc resp :cookies)
        :else
        (valk.web/add-set-cookies
          (dissoc resp :cookies)
          (map (fn [name] (set-cookie-header name (get (:cookies resp) name)))
               (sort (keys (:cookies resp)))))))))

;; Where wrap-session keeps sessions by default: the shared store, which
;; every worker of the process sees.
(def valk.web/shared-session-store
  {:get store/get
   :put (fn [key session ttl-ms] (store/put! key session {:ttl-ms ttl-ms}))
   :delete store/delete!})

;; Sessions in Redis, which every process that shares the server sees:
;; each a JSON object under its key, expiring with it (SET ... PX).
(defn redis-session-store [conn]
  {:get (fn [key] (some-> (await (redis/cmd conn "GET" key)) json/parse))
   :put (fn [key session ttl-ms] (await (redis/cmd conn "SET" key (json/write session) "PX" ttl-ms)))
   :delete (fn [key] (await (redis/cmd conn "DEL" key)))})

;; Sessions under an unguessable id (random-token) in a cookie. Request:
;; :session, the session's map ({} if none). Response: :session m stores m
;; (a new session gets its cookie), :session nil ends it (the cookie is
;; cleared); a response without :session changes nothing. A session
;; expires :ttl-ms after it was last stored. Options: :cookie-name
;; ("valk-session"), :ttl-ms (one day), :path ("/"), :same-site (:lax),
;; :secure (true over https, else false), :store (where sessions live: the
;; shared store, or (redis-session-store conn), or a map of :get :put
;; :delete functions); the cookie is HttpOnly.
(defn wrap-session
  ([handler] (wrap-session handler {}))
  ([handler opts]
   (let [cookie-name (get opts :cookie-name "valk-session")
         ttl-ms (get opts :ttl-ms 86400000)
         {load :get save :put forget :delete} (get opts :store valk.web/shared-session-store)
         cookie (fn [req value max-age]
                  (set-cookie-header cookie-name
                                     {:value value :path (get opts :path "/") :max-age max-age
                                      :http-only true :same-site (get opts :same-site :lax)
                                      :secure (get opts :secure (= :https (:scheme req)))}))
         key-of (fn [id] (str "valk.session/" id))]
     (fn [req]
       (let [id (get (parse-cookies (get (:headers req) "cookie")) cookie-name)
             data (when id (load (key-of id)))
             id (when data id)
             resp (valk.web/await-response handler (assoc req :session (or data {})))]
         (cond
           (not (and (map? resp) (contains? resp :session))) resp
           (nil? (:session resp))
           (do (when id (forget (key-of id)))
               (valk.web/add-set-cookies (dissoc resp :session) [(cookie req "" 0)]))
           :else
           (let [new-id (or id (random-token))]
             (save (key-of new-id) (:session resp) ttl-ms)
             (if id
               (dissoc resp :session)
               (valk.web/add-set-cookies (dissoc resp :session)
                                         [(cookie req new-id (quot (+ ttl-ms 999) 1000))])))))))))

;; ---------------------------------------------------------------------------
;; Content type, errors, CORS, access log

(def valk.web/mime-types
  {"html" "text/html; charset=utf-8" "htm" "text/html; charset=utf-8"
   "css" "text/css; charset=utf-8" "js" "text/javascript; charset=utf-8"
   "mjs" "text/javascript; charset=utf-8" "json" "application/json"
   "txt" "text/plain; charset=utf-8" "csv" "text/csv; charset=utf-8"
   "xml" "application/xml" "svg" "image/svg+xml" "png" "image/png"
   "jpg" "image/jpeg" "jpeg" "image/jpeg" "gif" "image/gif" "webp" "image/webp"
   "avif" "image/avif" "ico" "image/x-icon" "wasm" "application/wasm"
   "pdf" "application/pdf" "woff" "font/woff" "woff2" "font/woff2"
   "mp4" "video/mp4" "webm" "video/webm" "mp3" "audio/mpeg" "zip" "application/zip"})

;; The content type for a path's extension (case-insensitive), or nil.
(defn mime-type [path]
  (let [slash (or (last-index-of path "/") -1)
        dot (last-index-of path ".")]
    (when (and dot (> dot (inc slash)))
      (get valk.web/mime-types (lower-case (subs path (inc dot)))))))

;; Gives a response with a body and no content-type one: `default` if
;; given, else the type of the request path's extension, else text/plain
;; for a string body and application/octet-stream otherwise.
(defn wrap-content-type
  ([handler] (wrap-content-type handler nil))
  ([handler default]
   (fn [req]
     (let [resp (valk.web/await-response handler req)]
       (if (or (not (map? resp)) (nil? (:body resp)) (get-header resp "content-type"))
         resp
         (header resp "content-type"
                 (or default
                     (mime-type (or (:path req) ""))
                     (if (string? (:body resp)) valk.web/text-type "application/octet-stream"))))))))

;; Errors that belong to the server, not to the app: a cancelled request
;; and a fiber past its deadline or a budget are never turned into a 500 here.
(def valk.web/server-errors
  #{:cancelled :deadline-exceeded :budget-exceeded :allocation-exceeded})

(defn valk.web/error-text [e]
  (if (error? e)
    (str (error-message e) "\n  " (join "\n  " (error-trace e)))
    (pr-str e)))

;; Like the server's own 500: the request id in the body and in
;; x-request-id, so a user's report can be matched with the log.
(defn valk.web/default-error-response [req e]
  (let [id (:request-id req)
        accept (or (get (:headers req) "accept") "")
        resp (if (includes? accept "application/json")
               (json {:error "internal server error" :request-id id} 500)
               (text (str "Internal Server Error" (if id (str " (request " id ")") "") "\n") 500))]
    (if id (header resp "x-request-id" id) resp)))

(defn valk.web/default-error-log [req e]
  (println (str "error: request " (:request-id req) " " (upper-case (name (or (:method req) :?)))
                " " (:path req) ": " (valk.web/error-text e))))

;; Catches what the handler raises and answers 500 mentioning the request
;; id. opts: :render (fn [req e] response) and :log (fn [req e]), which by
;; default prints the error and its Lisp stack trace. Cancellation and
;; deadline errors pass through to the server.
(defn wrap-errors
  ([handler] (wrap-errors handler {}))
  ([handler opts]
   (let [render (or (:render opts) valk.web/default-error-response)
         log (or (:log opts) valk.web/default-error-log)]
     (fn [req]
       (let [outcome (try
                       [:ok (await (handler req))]
                       (catch e
                         (if (and (error? e)
                                  (contains? valk.web/server-errors (:type (error-data e))))
                           (throw e)
                           [:error e])))]
         (if (= :ok (first outcome))
           (second outcome)
           (do (log req (second outcome))
               (render req (second outcome)))))))))

;; `headers` with `token` added to its Vary header.
(defn valk.web/add-vary [headers token]
  (let [old (get-header {:headers headers} "vary")]
    (cond
      (nil? old) (assoc (valk.web/without-variants headers "vary") "vary" token)
      (header-has-token? {:headers headers} "vary" token) headers
      :else (assoc (valk.web/without-variants headers "vary") "vary" (str old ", " token)))))

;; CORS. opts:
;;   :origins      "*" or a collection of allowed origins (default "*")
;;   :methods      allowed methods, keywords (default GET HEAD POST PUT PATCH DELETE)
;;   :headers      allowed request headers (default: those the preflight asks for)
;;   :expose       response headers the browser may read
;;   :credentials  true to allow cookies (the origin is then echoed, never "*")
;;   :max-age      seconds a preflight may be cached
;; A preflight (OPTIONS with access-control-request-method) from an allowed
;; origin is answered 204 here; other requests from it get the headers
;; added to the handler's response. Requests from other origins get no
;; CORS headers. Unless any origin is allowed without credentials, every
;; response also gets Vary: Origin, so that caches keep the answers apart.
(defn wrap-cors
  ([handler] (wrap-cors handler {}))
  ([handler opts]
   (let [origins (or (:origins opts) "*")
         any-origin? (= origins "*")
         allowed (if any-origin? #{} (set origins))
         credentials? (:credentials opts)
         echo? (or credentials? (not any-origin?))
         methods (join ", " (map (fn [m] (upper-case (name m)))
                                 (or (:methods opts) [:get :head :post :put :patch :delete])))
         expose (when (:expose opts)
                  {"access-control-expose-headers" (join ", " (:expose opts))})
         vary (fn [resp]
                (if (and echo? (map? resp))
                  (assoc resp :headers (valk.web/add-vary (or (:headers resp) {}) "Origin"))
                  resp))]
     (fn [req]
       (let [headers (:headers req)
             origin (get headers "origin")]
         (cond
           (not (and origin (or any-origin? (contains? allowed origin))))
           (if echo? (vary (valk.web/await-response handler req)) (handler req))

           (and (= (:method req) :options) (get headers "access-control-request-method"))
           (vary {:status 204
                  :headers (merge {"access-control-allow-origin" (if echo? origin "*")
                                   "access-control-allow-methods" methods}
                                  (when credentials? {"access-control-allow-credentials" "true"})
                                  (when-let [h (if (:headers opts)
                                                 (join ", " (:headers opts))
                                                 (get headers "access-control-request-headers"))]
                                    {"access-control-allow-headers" h})
                                  (when-let [m (:max-age opts)]
                                    {"access-control-max-age" (str m)}))
                  :body nil})

           :else
           (let [resp (valk.web/await-response handler req)]
             (if-not (map? resp)
               resp
               (vary (update resp :headers merge
                             {"access-control-allow-origin" (if echo? origin "*")}
                             (when credentials? {"access-control-allow-credentials" "true"})
                             expose))))))))))

;; ---------------------------------------------------------------------------
;; Compression

;; Media types worth compressing beside text/*, +json and +xml.
(def valk.web/compressible-types
  #{"application/json" "application/javascript" "application/xml" "application/wasm"
    "image/svg+xml" "application/x-ndjson"})

(defn valk.web/compressible-type? [content-type]
  (let [t (or (valk.web/media-type content-type) "")]
    (or (starts-with? t "text/") (ends-with? t "+json") (ends-with? t "+xml")
        (contains? valk.web/compressible-types t))))

;; Whether the response could go out gzipped: a whole body (string or
;; bytes) of at least min-size, of a compressible type, with a status that
;; carries one, not encoded already, not a range, not marked no-transform.
(defn valk.web/gzippable? [resp min-size]
  (let [body (:body resp)
        st (or (:status resp) 200)]
    (and (or (string? body) (bytes? body))
         (>= (count body) min-size)
         (>= st 200) (not= st 204) (not= st 206) (not= st 304)
         (nil? (get-header resp "content-encoding"))
         (valk.web/compressible-type? (get-header resp "content-type"))
         (not (includes? (lower-case (or (get-header resp "cache-control") "")) "no-transform")))))

;; A strong ETag names these exact bytes; the compressed ones get a weak
;; one, as nginx does.
(defn valk.web/weaken-etag [resp]
  (let [etag (get-header resp "etag")]
    (if (and etag (starts-with? etag "\""))
      (header resp "etag" (str "W/" etag))
      resp)))

;; Compresses response bodies with gzip for clients whose Accept-Encoding
;; takes it: whole bodies of :min-size or more (default 1024: characters
;; of a string, bytes of bytes) whose content-type is text/*, JSON, XML,
;; SVG or JavaScript. Sets Content-Encoding, drops a Content-Length the handler
;; set, and makes a strong ETag weak. Every response it could compress gets
;; Vary: Accept-Encoding, so that caches keep the two forms apart. Streamed
;; bodies, ranges (206), responses already encoded and those with
;; Cache-Control: no-transform pass unchanged. :level is zlib's, 1 to 9:
;; 1 by default, as nginx, since it runs on the worker for every response
;; (3 times faster than 6 on a 126 KiB page, for 15 % more bytes).
(defn wrap-gzip
  ([handler] (wrap-gzip handler {}))
  ([handler opts]
   (let [min-size (or (:min-size opts) 1024)
         level (or (:level opts) 1)]
     (fn [req]
       (let [resp (valk.web/await-response handler req)]
         (if-not (and (map? resp) (valk.web/gzippable? resp min-size))
           resp
           (let [resp (assoc resp :headers
                             (valk.web/add-vary (or (:headers resp) {}) "Accept-Encoding"))]
             (if-not (> (web/accepted-q (get (:headers req) "accept-encoding") "gzip") 0)
               resp
               (-> (valk.web/weaken-etag resp)
                   (header "content-length" nil)
                   (header "content-encoding" "gzip")
                   (assoc :body (gzip (:body resp) level)))))))))))

;; One line per request after it is answered:
;;   127.0.0.1:5000 "GET /users/7 HTTP/2" 200 3ms r-42
;; `log` (default println) receives the line.
(defn wrap-access-log
  ([handler] (wrap-access-log handler println))
  ([handler log]
   (fn [req]
     (let [start (now-ms)
           resp (valk.web/await-response handler req)
           st (if (map? resp) (or (:status resp) 200) 200)]
       (log (str (:remote-addr req) " \"" (upper-case (name (or (:method req) :?))) " " (:path req)
                 (if (:query-string req) (str "?" (:query-string req)) "")
                 " " (:protocol req) "\" " st " " (- (now-ms) start) "ms " (:request-id req)))
       resp))))

;; ---------------------------------------------------------------------------
;; HTML from data
;;
;; [:tag attrs? child...] is an element: :div#id.cls1.cls2 sets the id and
;; classes; attrs is an optional map. Children that are strings (or other
;; scalars) are escaped; nil and false are skipped; lists, seqs and vectors
;; not starting with a keyword are spliced in; (raw s) is sent as it is.
;; Attributes render id, class, then the rest sorted by name. The walk is
;; the native web/render-html: pages are rendered on every request, and a
;; Lisp walk was ten times slower.

;; Marks a string as HTML that must not be escaped.
(defn raw [& strs] {:valk.web/raw (apply str strs)})

;; (html-str [:p "a < b"]) → "<p>a &lt; b</p>"; any number of nodes.
(defn html-str [& nodes] (web/render-html nodes))

(defn valk.web/html-root? [content]
  (and (vector? content) (keyword? (first content))
       (let [n (name (first content))]
         (or (= n "html") (starts-with? n "html#") (starts-with? n "html.")))))
