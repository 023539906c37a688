;; Files: file/read write stat list delete mkdir rename, their errors, and
;; many at once.
(import "valk/test")

;; The stress run (VALK_GC_STRESS=1) may run at the same time: its own directory.
(def dir (str (or (getenv "TMPDIR") "/tmp") "/valk-files-test-" (or (getenv "VALK_GC_STRESS") 0)
              "-" (now-ms)))
(await (file/mkdir dir))

(defn path [name] (str dir "/" name))
(defn rejection [p] (try (await p) :not-rejected (catch e e)))
(defn failure [p] (let [e (rejection p)] [(:type (error-data e)) (:kind (error-data e))]))

(deftest write-then-read
  (is (nil? (await (file/write (path "a.txt") "héllo\n"))))
  (is (= "héllo\n" (await (file/read (path "a.txt")))))
  (await (file/write (path "a.txt") "more\n" {:append true}))
  (is (= "héllo\nmore\n" (await (file/read (path "a.txt")))))
  ;; Without :append the file is replaced.
  (await (file/write (path "a.txt") "new"))
  (is (= "new" (await (file/read (path "a.txt")))))
  (is (= "" (do (await (file/write (path "empty") "")) (await (file/read (path "empty")))))))

(deftest bytes-in-and-out
  (let [b (string->bytes "ab")]
    (await (file/write (path "b.bin") (gzip b)))
    (let [back (await (file/read (path "b.bin")))]
      (is (bytes? back) "not UTF-8: bytes")
      (is (= "ab" (bytes->string (gunzip back)))))
    (is (bytes? (await (file/read (path "a.txt") {:as :bytes}))))
    (is (= [:file-error :failed] (failure (file/read (path "b.bin") {:as :text}))))))

(deftest stat-says-what-is-there
  (await (file/write (path "s.txt") "12345"))
  (let [st (await (file/stat (path "s.txt")))]
    (is (= :file (:type st)))
    (is (= 5 (:size st)))
    (is (int? (:mode st)))
    (is (< 1700000000000 (:modified st)) "milliseconds since 1970"))
  (is (= :directory (:type (await (file/stat dir)))))
  (is (nil? (await (file/stat (path "missing")))))
  (is (nil? (await (file/stat (path "s.txt/below")))) "under a file: nothing there"))

(deftest list-mkdir-rename-delete
  (await (file/mkdir (path "d/e/f")))
  (await (file/mkdir (path "d/e/f")))  ; already there: fine
  (await (file/write (path "d/z") "z"))
  (await (file/write (path "d/a") "a"))
  (is (= ["a" "e" "z"] (await (file/list (path "d")))))
  (is (= [] (await (file/list (path "d/e/f")))))
  (await (file/rename (path "d/a") (path "d/b")))
  (is (= ["b" "e" "z"] (await (file/list (path "d")))))
  (is (true? (await (file/delete (path "d/b")))))
  (is (false? (await (file/delete (path "d/b")))) "nothing there")
  (is (= [:file-error :not-empty] (failure (file/delete (path "d/e")))))
  (is (true? (await (file/delete (path "d/e/f")))) "an empty directory"))

(deftest failures-say-which
  (is (= [:file-error :not-found] (failure (file/read (path "missing")))))
  (is (= [:file-error :is-directory] (failure (file/read dir))))
  (is (= [:file-error :not-directory] (failure (file/list (path "a.txt")))))
  (is (= [:file-error :not-found] (failure (file/write (path "no/such/dir/x") "x"))))
  (is (= [:file-error :not-found] (failure (file/rename (path "missing") (path "x")))))
  (await (file/write (path "big") "0123456789"))
  (is (= [:file-error :too-large] (failure (file/read (path "big") {:max-bytes 9}))))
  (is (= "0123456789" (await (file/read (path "big") {:max-bytes 10}))))
  (let [e (rejection (file/read (path "missing")))]
    (is (= (str "file/read " (path "missing") ": No such file or directory") (error-message e)))
    (is (= (path "missing") (:path (error-data e))))))

(deftest bad-arguments-raise-at-the-call
  (doseq [f [#(file/read 5) #(file/read "") #(file/read "x" {:bogus 1}) #(file/read "x" {:as :xml})
             #(file/read "x" {:max-bytes -1}) #(file/write "x" 5) #(file/write "x" "y" {:mode 1})
             #(file/rename "x" nil) #(file/stat "a\u0000b")]]
    (is (= :type-error (:type (error-data (try (f) (catch e e))))))))

(deftest files-a-size-does-not-tell
  (is (starts-with? (await (file/read "/proc/self/status")) "Name:")))

(deftest many-at-once
  (let [names (mapv #(path (str "many-" %)) (range 50))]
    (await (all (map-indexed (fn [i n] (file/write n (str i))) names)))
    (is (= (mapv str (range 50)) (await (all (mapv file/read names)))))
    ;; Awaiting inside map works as well.
    (is (= 50 (count (map #(await (file/read %)) names))))))

(deftest cancelling-drops-the-result
  (let [p (file/read (path "a.txt"))]
    (cancel p)
    (is (= :cancelled (:type (error-data (rejection p))))))
  ;; The isolate goes on.
  (is (= "new" (await (file/read (path "a.txt"))))))

(defn remove-tree [p]
  (when (= :directory (:type (await (file/stat p))))
    (doseq [n (await (file/list p))]
      (remove-tree (str p "/" n))))
  (await (file/delete p)))

(run-tests)
(remove-tree dir)
