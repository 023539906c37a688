;; An HTML page built from Lisp data; text is escaped by default, and the
;; page goes out gzipped to browsers that take it.
;;   build/valk serve examples/page.lisp   (then open http://127.0.0.1:8080/?name=you)

(import "valk/web")

(defn layout [title & body]
  [:html
   [:head [:meta {:charset "utf-8"}] [:title title]]
   [:body body]])

(defn home [req]
  (let [name (or (get-in req [:query :name]) "stranger")]
    (html (layout "valk"
                  [:h1 {:class "greeting"} "Hello, " name "!"]
                  [:ul (for [lang ["Lisp" "C++" "HTTP/2"]] [:li lang])]
                  [:table#squares
                   [:tr [:th "n"] [:th "n²"]]
                   (for [n (range 1 101)] [:tr [:td n] [:td (* n n)]])]))))

(def app (-> (router (GET "/" home)) (wrap-params) (wrap-gzip)))

(serve app {:port 8080})
