;; Hello, World! as a valk web app.
;; Run it with: build/valk serve examples/hello.lisp   (then: curl http://127.0.0.1:8080/)

(import "valk/web")

(def app
  (router
    (GET "/" (fn [req] (text "Hello, World!")))
    (GET "/hello/:name" (fn [req] (text (str "Hello, " (get-in req [:params :name]) "!"))))
    (GET "/slow" (fn [req]
                   ;; Waiting here parks this request's fiber; others keep running.
                   (await (sleep 100))
                   (text "Sorry for the wait.")))))

(serve app {:port 8080})
