;; A JSON CRUD API for todos, kept in an atom (one copy per worker: run with
;; --threads 1 for a single shared list, or keep state in a database).
;;
;;   build/valk serve --threads 1 examples/todos.lisp
;;   curl -X POST -d '{"title":"write docs"}' -H 'content-type: application/json' \
;;        http://127.0.0.1:8080/todos

(import "valk/web")

(def todos (atom {}))
(def next-id (atom 0))

(defn validation-error [message]
  (json {:error message} 400))

(defn list-todos [req]
  (json (vec (sort-by :id (vals @todos)))))

(defn show-todo [req]
  (let [id (parse-long (get-in req [:params :id]))
        todo (get @todos id)]
    (if todo (json todo) (json {:error "no such todo"} 404))))

(defn create-todo [req]
  (let [title (get-in req [:json-body :title])]
    (cond
      (not (string? title)) (validation-error "title must be a string")
      (blank? title) (validation-error "title must not be blank")
      :else (let [id (swap! next-id inc)
                  todo {:id id :title title :done false}]
              (swap! todos assoc id todo)
              (json todo 201)))))

(defn update-todo [req]
  (let [id (parse-long (get-in req [:params :id]))
        done (get-in req [:json-body :done])]
    (cond
      (nil? (get @todos id)) (json {:error "no such todo"} 404)
      (not (boolean? done)) (validation-error "done must be true or false")
      :else (json (get (swap! todos assoc-in [id :done] done) id)))))

(defn delete-todo [req]
  (let [id (parse-long (get-in req [:params :id]))]
    (swap! todos dissoc id)
    {:status 204}))

(def app
  (-> (router
        (GET "/todos" list-todos)
        (POST "/todos" create-todo)
        (GET "/todos/:id" show-todo)
        (PATCH "/todos/:id" update-todo)
        (DELETE "/todos/:id" delete-todo))
      (wrap-json-body)))

(serve app {:port 8080})
