// The access log and the error log. Lines are formatted on the calling
// thread and handed to one writer thread, so no reactor ever blocks on a
// file or a terminal. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "valk/server.h"

namespace valk::net {

// Appends `s` to `out` as the inside of a JSON string: quotes,
// backslashes and control bytes escaped.
void json_escape(std::string& out, std::string_view s);

class LogWriter {
 public:
  LogWriter() = default;
  ~LogWriter();
  // Opens the sinks ("" none, "-" stdout/stderr, else a file appended to).
  // With json_errors the error log's lines are JSON objects: time, level,
  // message.
  bool open(const std::string& access_path, const std::string& error_path, LogLevel level,
            bool json_errors, std::string* error);
  bool access_enabled() const { return access_ != nullptr; }
  bool enabled(LogLevel l) const { return error_ != nullptr && l >= level_; }
  void access(std::string line);  // line without the newline
  void log(LogLevel l, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // One line of any length (log() cuts its text at 1 KiB).
  void write(LogLevel l, std::string_view message);
  // Writes out everything queued; blocks until done.
  void flush();
  // Writes out what is queued to the files open now, then opens their
  // paths again (a rotation moved them): what is logged after it returns
  // goes to the new files. A file that cannot be opened stays as it was:
  // false, naming it. Any thread.
  bool reopen(std::string* error);

 private:
  void run();
  struct Line {
    FILE* to;
    std::string text;
  };
  FILE* access_ = nullptr;
  FILE* error_ = nullptr;
  bool own_access_ = false, own_error_ = false;
  std::string access_path_, error_path_;
  LogLevel level_ = LogLevel::kWarn;
  bool json_errors_ = false;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<Line> queue_;
  bool stop_ = false, busy_ = false;
  std::thread thread_;
};

}  // namespace valk::net
