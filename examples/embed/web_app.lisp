;; The app examples/embed/web_host.cpp serves; host/answer is its native.
(import "valk/web")

(serve (router
         (GET "/" (fn [req] (text (str "Lisp says the answer is " (host/answer) "\n"))))))
