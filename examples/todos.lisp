;; A JSON CRUD API for todos, kept in the shared store (store/get,
;; store/swap!), which every worker sees: the list lasts as long as the
;; process (examples/notes.lisp keeps its notes in PostgreSQL).
;;
;;   build/valk serve examples/todos.lisp
;;   curl -X POST -d '{"title":"write docs"}' -H 'content-type: application/json' \
;;        http://127.0.0.1:8080/todos

(import "valk/web")

;; {id todo} at :todos, and the last id given at :todo-id.
(defn all-todos [] (store/get :todos {}))

(defn validation-error [message]
  (json {:error message} 400))

(defn list-todos [req]
  (json (vec (sort-by :id (vals (all-todos))))))

(defn show-todo [req]
  (let [id (parse-long (get-in req [:params :id]))
        todo (get (all-todos) id)]
    (if todo (json todo) (json {:error "no such todo"} 404))))

(defn create-todo [req]
  (let [title (get-in req [:json-body :title])]
    (cond
      (not (string? title)) (validation-error "title must be a string")
      (blank? title) (validation-error "title must not be blank")
      :else (let [id (store/incr! :todo-id)
                  todo {:id id :title title :done false}]
              (store/swap! :todos (fnil assoc {}) id todo)
              (json todo 201)))))

(defn update-todo [req]
  (let [id (parse-long (get-in req [:params :id]))
        done (get-in req [:json-body :done])]
    (if (not (boolean? done))
      (validation-error "done must be true or false")
      ;; Checked and changed in one step: another worker may delete it.
      (let [todos (store/swap! :todos (fn [m] (if (contains? m id) (assoc-in m [id :done] done) m)))]
        (if-let [todo (get todos id)]
          (json todo)
          (json {:error "no such todo"} 404))))))

(defn delete-todo [req]
  (let [id (parse-long (get-in req [:params :id]))]
    (store/swap! :todos dissoc id)
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
