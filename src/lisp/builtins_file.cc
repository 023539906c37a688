// Files, without blocking the isolate: each call returns a promise, and the
// system calls run on libuv's thread pool while the fibers go on.
//
//   (file/read path)               the contents: a string if UTF-8, else bytes
//   (file/read path {:as :bytes})  :auto (default), :text or :bytes;
//                                  :max-bytes (64 MiB by default)
//   (file/write path data)         writes a string or bytes (creating or
//   (file/write path data {:append true})   truncating); nil when done
//   (file/stat path)               {:type :file :size n :modified ms :mode n},
//                                  or nil when nothing is there
//   (file/list dir)                the names in a directory, sorted
//   (file/delete path)             true, or false when nothing was there
//   (file/mkdir path)              makes the directory and its parents
//   (file/rename from to)          moves or renames (atomic on one file system)
//
// Failures reject the promise with {:type :file-error :kind K :path P},
// K being :not-found, :permission, :exists, :not-empty, :is-directory,
// :not-directory, :too-large or :failed; the message has the system's
// reason.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lisp/builtins.h"
#include "lisp/collections.h"
#include "lisp/isolate.h"
#include "lisp/utf8.h"

namespace valk::lisp {
namespace {

constexpr int64_t kDefaultMaxBytes = int64_t{64} << 20;
// Bytes and strings count their size in 32 bits.
constexpr int64_t kLargestValue = UINT32_MAX;

enum class ReadAs { kAuto, kText, kBytes };

// What a thread-pool job found, for the loop thread to turn into a value.
struct FileResult {
  int err = 0;                     // an errno value, or 0
  bool too_large = false;          // read: past :max-bytes
  std::string data;                // read: the contents
  std::vector<std::string> names;  // list
  struct stat st = {};
  bool found = true;  // stat, delete
};

struct FileOp final : PendingOp {
  Isolate* iso = nullptr;
  uv_work_t work;
  std::string fn;  // "file/read", for messages
  std::string path;
  // Runs on a thread of the pool: system calls only, no heap.
  std::function<void(FileResult&)> job;
  // Runs on the loop's thread: the value that fulfils the promise (or an
  // Error, which rejects it).
  std::function<Value(Isolate&, FileResult&)> value;
  FileResult result;
  bool cancelled = false;

  std::string describe() const override { return fn + " " + path; }

  void cancel() override {
    // A job already running finishes; its result is dropped in after_work.
    cancelled = true;
    Promise* p = promise;
    iso->unlink_op(this);
    p->op = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&work));
    iso->reject(p, val(iso->make_cancelled(fn + " was cancelled")));
  }
};

std::string_view kind_of(int err) {
  switch (err) {
    case ENOENT:
      return "not-found";
    case EACCES:
    case EPERM:
      return "permission";
    case EEXIST:
      return "exists";
    case ENOTEMPTY:
      return "not-empty";
    case EISDIR:
      return "is-directory";
    case ENOTDIR:
      return "not-directory";
    case EFBIG:
      return "too-large";
    default:
      return "failed";
  }
}

Value file_error(Isolate& iso, const FileOp& op, std::string_view kind, const std::string& why) {
  Heap& h = iso.heap();
  Value data[] = {h.keyword("type"), h.keyword("file-error"), h.keyword("kind"),
                  h.keyword(kind),   h.keyword("path"),       h.string(op.path)};
  return val(iso.make_error(h.string(op.fn + " " + op.path + ": " + why), map_from(h, data, 3)));
}

void after_work(uv_work_t* w, int status) {
  auto* op = static_cast<FileOp*>(w->data);
  if (op->cancelled) {
    delete op;
    return;
  }
  Isolate& iso = *op->iso;
  Value v;
  FileResult& r = op->result;
  if (status != 0) {
    v = file_error(iso, *op, "failed", uv_strerror(status));
  } else if (r.err != 0) {
    v = file_error(iso, *op, kind_of(r.err), std::strerror(r.err));
  } else if (r.too_large) {
    v = file_error(iso, *op, "too-large", "larger than :max-bytes");
  } else {
    v = op->value(iso, r);
  }
  iso.end_op(op, !v.is(Tag::Error), v);
}

// Starts `op` on the pool and returns its promise; `op` deletes itself
// when done.
Value start(Isolate& iso, std::unique_ptr<FileOp> owned) {
  FileOp* op = owned.release();
  op->iso = &iso;
  op->work.data = op;
  Promise* p = iso.begin_op(op);
  uv_queue_work(
      iso.loop(), &op->work,
      [](uv_work_t* w) {
        auto* op = static_cast<FileOp*>(w->data);
        op->job(op->result);
      },
      after_work);
  return val(p);
}

bool path_arg(Isolate& iso, const char* fn, Value v, std::string* out, Value* raised) {
  if (!v.is(Tag::String) || static_cast<String*>(v.o)->view().empty()) {
    *raised = iso.type_error(fn, "a non-empty string path", v);
    return false;
  }
  std::string_view s = static_cast<String*>(v.o)->view();
  if (s.find('\0') != s.npos) {
    *raised = iso.raise_error("type-error", std::string(fn) + ": a path with a NUL character");
    return false;
  }
  *out = std::string(s);
  return true;
}

// A new operation of `fn` on the path `path`; null (with the error in
// *raised) if `path` is not one.
std::unique_ptr<FileOp> make_op(Isolate& iso, const char* fn, Value path, Value* raised) {
  auto op = std::make_unique<FileOp>();
  op->fn = fn;
  if (!path_arg(iso, fn, path, &op->path, raised)) {
    return nullptr;
  }
  return op;
}

// `opts` (nil or a map) may hold only the keywords of `allowed`.
bool options_arg(Isolate& iso, const char* fn, Value opts,
                 std::initializer_list<std::string_view> allowed, Value* raised) {
  if (opts.is_nil()) {
    return true;
  }
  if (!opts.is(Tag::Map)) {
    *raised = iso.type_error(fn, "an options map", opts);
    return false;
  }
  bool ok = true;
  map_each(opts, [&](Value k, Value) {
    bool known =
        k.is(Tag::Keyword) && std::find(allowed.begin(), allowed.end(),
                                        static_cast<Symbol*>(k.o)->name->view()) != allowed.end();
    if (!known) {
      std::string names;
      for (std::string_view a : allowed) {
        names += names.empty() ? ":" : " :";
        names += a;
      }
      *raised = iso.raise_error("type-error",
                                std::string(fn) + ": unknown option (options: " + names + ")");
      ok = false;
    }
    return ok;
  });
  return ok;
}

Value option(Isolate& iso, Value opts, std::string_view name) {
  Value v = Value::nil();
  if (opts.is(Tag::Map)) {
    map_find(opts, iso.heap().keyword(name), &v);
  }
  return v;
}

// Reads the whole of `path` into r.data, refusing more than `max` bytes.
void read_file(const std::string& path, int64_t max, FileResult& r) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.err = errno;
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    r.err = errno;
  } else if (S_ISDIR(st.st_mode)) {
    r.err = EISDIR;
  } else if (st.st_size > max) {
    r.too_large = true;
  } else {
    // Files that report no size (/proc) are read to their end all the same.
    r.data.reserve(static_cast<size_t>(st.st_size));
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        r.err = errno;
        break;
      }
      if (n == 0) {
        break;
      }
      if (static_cast<int64_t>(r.data.size()) + n > max) {
        r.too_large = true;
        break;
      }
      r.data.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
}

void write_file(const std::string& path, const std::string& data, bool append, FileResult& r) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  int fd = ::open(path.c_str(), flags, 0666);
  if (fd < 0) {
    r.err = errno;
    return;
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      r.err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && r.err == 0) {
    r.err = errno;  // a delayed write error (NFS, quota)
  }
}

// ---- natives ------------------------------------------------------------------

Value n_read(Isolate& iso, Value* args, int argc) {
  Value opts = argc > 1 ? args[1] : Value::nil();
  Value raised;
  std::unique_ptr<FileOp> op = make_op(iso, "file/read", args[0], &raised);
  if (op == nullptr || !options_arg(iso, "file/read", opts, {"as", "max-bytes"}, &raised)) {
    return raised;
  }
  ReadAs as = ReadAs::kAuto;
  if (Value v = option(iso, opts, "as"); !v.is_nil()) {
    std::string_view n = v.is(Tag::Keyword) ? static_cast<Symbol*>(v.o)->name->view() : "";
    if (n == "text") {
      as = ReadAs::kText;
    } else if (n == "bytes") {
      as = ReadAs::kBytes;
    } else if (n != "auto") {
      return iso.type_error("file/read", ":auto, :text or :bytes as :as", v);
    }
  }
  int64_t max = kDefaultMaxBytes;
  if (Value v = option(iso, opts, "max-bytes"); !v.is_nil()) {
    if (!v.is_int() || v.i < 0 || v.i > kLargestValue) {
      return iso.type_error("file/read", "a non-negative integer below 4 GiB as :max-bytes", v);
    }
    max = v.i;
  }
  op->job = [path = op->path, max](FileResult& r) { read_file(path, max, r); };
  op->value = [as, o = op.get()](Isolate& iso, FileResult& r) {
    Heap& h = iso.heap();
    if (as != ReadAs::kBytes && utf8_valid(r.data)) {
      return h.string(r.data);
    }
    if (as == ReadAs::kText) {
      return file_error(iso, *o, "failed", "not UTF-8 text");
    }
    return val(h.make_bytes(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size()));
  };
  return start(iso, std::move(op));
}

Value n_write(Isolate& iso, Value* args, int argc) {
  Value opts = argc > 2 ? args[2] : Value::nil();
  Value raised;
  std::unique_ptr<FileOp> op = make_op(iso, "file/write", args[0], &raised);
  if (op == nullptr || !options_arg(iso, "file/write", opts, {"append"}, &raised)) {
    return raised;
  }
  std::string_view data;
  if (!text_or_bytes(args[1], &data)) {
    return iso.type_error("file/write", "a string or bytes to write", args[1]);
  }
  bool append = option(iso, opts, "append").truthy();
  op->job = [path = op->path, data = std::string(data), append](FileResult& r) {
    write_file(path, data, append, r);
  };
  op->value = [](Isolate&, FileResult&) { return Value::nil(); };
  return start(iso, std::move(op));
}

Value n_stat(Isolate& iso, Value* args, int) {
  Value raised;
  std::unique_ptr<FileOp> op = make_op(iso, "file/stat", args[0], &raised);
  if (op == nullptr) {
    return raised;
  }
  op->job = [path = op->path](FileResult& r) {
    if (::stat(path.c_str(), &r.st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        r.found = false;
      } else {
        r.err = errno;
      }
    }
  };
  op->value = [](Isolate& iso, FileResult& r) {
    if (!r.found) {
      return Value::nil();
    }
    Heap& h = iso.heap();
    mode_t m = r.st.st_mode;
    const char* type = S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : "other";
    int64_t modified_ms =
        static_cast<int64_t>(r.st.st_mtim.tv_sec) * 1000 + r.st.st_mtim.tv_nsec / 1000000;
    Value kvs[] = {h.keyword("type"),     h.keyword(type),
                   h.keyword("size"),     Value::integer(r.st.st_size),
                   h.keyword("modified"), Value::integer(modified_ms),
                   h.keyword("mode"),     Value::integer(m & 07777)};
    return map_from(h, kvs, 4);
  };
  return start(iso, std::move(op));
}

Value n_list(Isolate& iso, Value* args, int) {
  Value raised;
  std::unique_ptr<FileOp> op = make_op(iso, "file/list", args[0], &raised);
  if (op == nullptr) {
    return raised;
  }
  op->job = [path = op->path](FileResult& r) {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
      r.err = errno;
      return;
    }
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") {
        r.names.emplace_back(name);
      }
    }
    ::closedir(d);
    std::sort(r.names.begin(), r.names.end());
  };
  op->value = [o = op.get()](Isolate& iso, FileResult& r) {
    Heap& h = iso.heap();
    std::vector<Value> names;
    names.reserve(r.names.size());
    for (const std::string& n : r.names) {
      if (!utf8_valid(n)) {
        return file_error(iso, *o, "failed", "a name that is not UTF-8 in the directory");
      }
      names.push_back(h.string(n));
    }
    return vector_from(h, names.data(), names.size());
  };
  return start(iso, std::move(op));
}

Value n_delete(Isolate& iso, Value* args, int) {
  Value raised;
  std::unique_ptr<FileOp> op = make_op(iso, "file/delete", args[0], &raised);
  if (op == nullptr) {
    return raised;
  }
  op->job = [path = op->path](FileResult& r) {
    // A file, a link or an empty directory.
    if (::unlink(path.c_str()) == 0) {
      return;
    }
    int err = errno;
    if (err == EISDIR && ::rmdir(path.c_str()) == 0) {
      return;
    }
    if (err == EISDIR) {
      err = errno;
    }
    if (err == ENOENT) {
      r.found = false;
    } else {
      r.err = err;
    }
  };
  op->value = [](Isolate&, FileResult& r) { return Value::boolean(r.found); };
  return start(iso, std::move(op));
}

Value n_mkdir(Isolate& iso, Value* args, int) {
  Value raised;
  std::unique_ptr<FileOp> op = make_op(iso, "file/mkdir", args[0], &raised);
  if (op == nullptr) {
    return raised;
  }
  op->job = [path = op->path](FileResult& r) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      r.err = ec.value();
    }
  };
  op->value = [](Isolate&, FileResult&) { return Value::nil(); };
  return start(iso, std::move(op));
}

Value n_rename(Isolate& iso, Value* args, int) {
  std::string to;
  Value raised;
  std::unique_ptr<FileOp> op = make_op(iso, "file/rename", args[0], &raised);
  if (op == nullptr || !path_arg(iso, "file/rename", args[1], &to, &raised)) {
    return raised;
  }
  op->job = [from = op->path, to](FileResult& r) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      r.err = errno;
    }
  };
  op->value = [](Isolate&, FileResult&) { return Value::nil(); };
  return start(iso, std::move(op));
}

}  // namespace

void register_file_natives(Isolate& iso) {
  iso.define_native("file/read", n_read, 1, 2);
  iso.define_native("file/write", n_write, 2, 3);
  iso.define_native("file/stat", n_stat, 1, 1);
  iso.define_native("file/list", n_list, 1, 1);
  iso.define_native("file/delete", n_delete, 1, 1);
  iso.define_native("file/mkdir", n_mkdir, 1, 1);
  iso.define_native("file/rename", n_rename, 2, 2);
}

}  // namespace valk::lisp
