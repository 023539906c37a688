#include "net/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <tuple>

namespace valk::net {

LogWriter::~LogWriter() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  if (own_access_) {
    fclose(access_);
  }
  if (own_error_) {
    fclose(error_);
  }
}

void json_escape(std::string& out, std::string_view s) {
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(ch));
    } else if (ch < 0x20 || ch == 0x7f) {
      char b[8];
      snprintf(b, sizeof b, "\\u%04x", ch);
      out += b;
    } else {
      out.push_back(static_cast<char>(ch));
    }
  }
}

bool LogWriter::open(const std::string& access_path, const std::string& error_path, LogLevel level,
                     bool json_errors, std::string* error) {
  level_ = level;
  json_errors_ = json_errors;
  auto open_one = [&](const std::string& path, FILE* dash, FILE** out, bool* own) {
    if (path.empty()) {
      return true;
    }
    if (path == "-") {
      *out = dash;
      return true;
    }
    *out = fopen(path.c_str(), "a");
    if (*out == nullptr) {
      *error = "cannot open log file " + path + ": " + strerror(errno);
      return false;
    }
    *own = true;
    (out == &access_ ? access_path_ : error_path_) = path;
    return true;
  };
  // At level off the error log is not opened (nor created).
  if (!open_one(access_path, stdout, &access_, &own_access_) ||
      (level != LogLevel::kOff && !open_one(error_path, stderr, &error_, &own_error_))) {
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void LogWriter::access(std::string line) {
  if (access_ == nullptr) {
    return;
  }
  line.push_back('\n');
  {
    std::lock_guard<std::mutex> g(mu_);
    queue_.push_back(Line{access_, std::move(line)});
  }
  cv_.notify_one();
}

void LogWriter::log(LogLevel l, const char* fmt, ...) {
  if (!enabled(l)) {
    return;
  }
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  write(l, msg);
}

void LogWriter::write(LogLevel l, std::string_view message) {
  if (!enabled(l)) {
    return;
  }
  static const char* kNames[] = {"debug", "info", "warn", "error", "off"};
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line;
  if (json_errors_) {
    line = std::string("{\"time\":\"") + stamp + "\",\"level\":\"" + kNames[static_cast<int>(l)] +
           "\",\"message\":\"";
    json_escape(line, message);
    line += "\"}";
  } else {
    line = std::string(stamp) + " [" + kNames[static_cast<int>(l)] + "] ";
    line.append(message);
  }
  line.push_back('\n');
  {
    std::lock_guard<std::mutex> g(mu_);
    queue_.push_back(Line{error_, std::move(line)});
  }
  cv_.notify_one();
}

void LogWriter::flush() {
  std::unique_lock<std::mutex> g(mu_);
  done_cv_.wait(g, [this] { return (queue_.empty() && !busy_) || !thread_.joinable(); });
}

bool LogWriter::reopen(std::string* error) {
  flush();
  bool ok = true;
  // The FILEs stay; the descriptor under each is replaced in one dup2, so
  // the writer thread needs no pause.
  for (auto [file, own, path] : {std::tuple{access_, own_access_, &access_path_},
                                 std::tuple{error_, own_error_, &error_path_}}) {
    if (!own) {
      continue;
    }
    int fd = ::open(path->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0 || dup2(fd, fileno(file)) < 0) {
      *error = "cannot reopen log file " + *path + ": " + strerror(errno);
      ok = false;
    }
    if (fd >= 0) {
      close(fd);
    }
  }
  return ok;
}

void LogWriter::run() {
  sigset_t pipe;  // a closed stdout must not kill the process
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  std::vector<Line> batch;
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    cv_.wait(g, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) {
      return;
    }
    batch.swap(queue_);
    busy_ = true;
    g.unlock();
    FILE* last = nullptr;
    for (Line& l : batch) {
      fwrite(l.text.data(), 1, l.text.size(), l.to);
      if (last != nullptr && last != l.to) {
        fflush(last);
      }
      last = l.to;
    }
    if (last != nullptr) {
      fflush(last);
    }
    batch.clear();
    g.lock();
    busy_ = false;
    done_cv_.notify_all();
  }
}

}  // namespace valk::net
