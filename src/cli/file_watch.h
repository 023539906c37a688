// `valk serve --watch`: watches the directories of the app's files and
// reports a change to a .lisp file in them, once the writes have settled.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace valk::cli {

class FileWatch {
 public:
  // Starts the watching thread; `on_change` is called on it, 100 ms after
  // the last change of a burst (an editor's save is several events).
  explicit FileWatch(std::function<void()> on_change);
  // Stops the thread.
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  // Watches these directories from now on, instead of the ones before;
  // returns once they are watched. Any thread but the watching one.
  void watch(std::vector<std::string> dirs);

  static constexpr uint64_t kSettleMs = 100;

 private:
  void thread_main();
  // On the watching thread: applies the last watch() call, or stops.
  void apply();
  static void on_event(uv_fs_event_t* h, const char* name, int events, int status);

  std::function<void()> on_change_;
  uv_loop_t loop_;
  uv_async_t wakeup_;
  uv_timer_t settle_;
  std::map<std::string, uv_fs_event_t*> watched_;  // by directory; the thread's
  std::mutex mu_;
  std::vector<std::string> next_dirs_;  // under mu_
  bool has_next_ = false;               // under mu_
  bool stop_ = false;                   // under mu_
  std::condition_variable applied_;     // has_next_ went false
  std::thread thread_;
};

}  // namespace valk::cli
