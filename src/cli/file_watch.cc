#include "cli/file_watch.h"

#include <cstdio>
#include <set>
#include <string_view>

namespace valk::cli {

namespace {

// A file whose change counts: a .lisp file, not an editor's hidden lock
// or backup file (Emacs' ".#app.lisp").
bool counts(std::string_view name) {
  return name.size() > 5 && name.substr(name.size() - 5) == ".lisp" && name[0] != '.';
}

void close_handle(uv_handle_t* h, uv_close_cb cb = nullptr) {
  if (!uv_is_closing(h)) {
    uv_close(h, cb);
  }
}

}  // namespace

FileWatch::FileWatch(std::function<void()> on_change) : on_change_(std::move(on_change)) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &wakeup_, [](uv_async_t* a) { static_cast<FileWatch*>(a->data)->apply(); });
  wakeup_.data = this;
  uv_timer_init(&loop_, &settle_);
  settle_.data = this;
  thread_ = std::thread([this] { thread_main(); });
}

FileWatch::~FileWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  uv_async_send(&wakeup_);
  thread_.join();
  uv_loop_close(&loop_);
}

void FileWatch::watch(std::vector<std::string> dirs) {
  std::unique_lock<std::mutex> lock(mu_);
  next_dirs_ = std::move(dirs);
  has_next_ = true;
  uv_async_send(&wakeup_);
  applied_.wait(lock, [this] { return !has_next_; });
}

void FileWatch::thread_main() {
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void FileWatch::apply() {
  std::unique_lock<std::mutex> lock(mu_);
  bool stop = stop_;
  if (!has_next_ && !stop) {
    return;
  }
  // Held while the directories are set up, so that watch() returns once
  // they are watched.
  std::vector<std::string> dirs = std::move(next_dirs_);
  std::set<std::string> wanted;
  if (!stop) {
    wanted.insert(dirs.begin(), dirs.end());
  }
  auto free_event = [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); };
  for (auto it = watched_.begin(); it != watched_.end();) {
    if (wanted.count(it->first) == 0) {
      close_handle(reinterpret_cast<uv_handle_t*>(it->second), free_event);
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
  for (const std::string& dir : wanted) {
    if (watched_.count(dir) != 0) {
      continue;
    }
    auto* h = new uv_fs_event_t;
    uv_fs_event_init(&loop_, h);
    h->data = this;
    if (int rc = uv_fs_event_start(h, on_event, dir.c_str(), 0); rc != 0) {
      fprintf(stderr, "valk: --watch: cannot watch %s: %s\n", dir.c_str(), uv_strerror(rc));
      close_handle(reinterpret_cast<uv_handle_t*>(h), free_event);
      continue;
    }
    watched_.emplace(dir, h);
  }
  if (stop) {
    close_handle(reinterpret_cast<uv_handle_t*>(&wakeup_));
    close_handle(reinterpret_cast<uv_handle_t*>(&settle_));
  }
  has_next_ = false;
  applied_.notify_all();
}

void FileWatch::on_event(uv_fs_event_t* h, const char* name, int, int status) {
  auto* self = static_cast<FileWatch*>(h->data);
  if (status != 0 || name == nullptr || !counts(name)) {
    return;
  }
  uv_timer_start(
      &self->settle_, [](uv_timer_t* t) { static_cast<FileWatch*>(t->data)->on_change_(); },
      kSettleMs, 0);
}

}  // namespace valk::cli
