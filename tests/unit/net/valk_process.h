// Runs `valk serve` or `valk static` as a child process for end-to-end
// tests: on port 0, with its stderr collected, stopped by signal.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <regex>
#include <string>
#include <vector>

namespace valk::test {

class ValkProcess {
 public:
  // Starts `valk COMMAND ARGS...`; waits (bounded) until it reports its
  // port or exits. `in_child` runs in the child before the exec (to set
  // its limits, say).
  ValkProcess(std::string command, std::vector<std::string> args,
              const std::function<void()>& in_child = {}) {
    int err[2];
    EXPECT_EQ(pipe(err), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(err[1], 2);
      dup2(err[1], 1);
      close(err[0]);
      if (in_child) {
        in_child();
      }
      std::vector<char*> argv;
      static std::string binary = VALK_BINARY;
      argv.push_back(binary.data());
      argv.push_back(command.data());
      for (std::string& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(err[1]);
    fd_ = err[0];
    // The first address of the banner: "serving X on http://HOST:PORT ..."
    // (valk serve) or "... PORT\n" (valk static).
    std::regex serving("serving .* on https?://[^ ]*:([0-9]+)[ \n]");
    std::smatch m;
    read_until([&] { return std::regex_search(output_, m, serving); }, 20000);
    if (std::regex_search(output_, m, serving)) {
      port_ = static_cast<uint16_t>(std::stoi(m[1]));
    }
  }

  ~ValkProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(fd_);
  }

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The port of the --metrics listener, from its banner line (waits for
  // it, bounded); 0 if none.
  uint16_t metrics_port() {
    std::regex line("metrics on http://[^ ]*:([0-9]+)/metrics\n");
    std::smatch m;
    read_until([&] { return std::regex_search(output_, m, line); }, 5000);
    return std::regex_search(output_, m, line) ? static_cast<uint16_t>(std::stoi(m[1])) : 0;
  }
  const std::string& output() const { return output_; }
  std::string url(const std::string& path, bool tls = false) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }

  // Sends `sig`; returns the exit status once the process exits (bounded),
  // or -1.
  int signal_and_wait(int sig, int ms = 20000) {
    kill(pid_, sig);
    return wait_exit(ms);
  }

  // Waits for the process to exit on its own (bounded); -1 if it did not.
  int wait_exit(int ms = 20000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        read_until([] { return false; }, 200);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      read_until([] { return false; }, 20);
    }
    return -1;
  }

  // Reads output until `done()` or `ms` pass or EOF.
  template <class F>
  void read_until(F done, int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!done()) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) {
        return;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) {
        return;
      }
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) {
        return;
      }
      output_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  uint16_t port_ = 0;
  bool exited_ = false;
  std::string output_;
};

}  // namespace valk::test
