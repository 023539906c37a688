;; fib(30), naive doubly recursive: calls and integer arithmetic.
(defn fib [n]
  (if (< n 2)
    n
    (+ (fib (- n 1)) (fib (- n 2)))))

(println (fib 30))
