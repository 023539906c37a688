// A redis-server of a test's own on a Unix socket, stopped at the end.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace valk::test {

class RedisServer {
 public:
  explicit RedisServer(const std::string& dir) : socket_(dir + "/redis.sock") {
    std::filesystem::create_directories(dir);
    std::filesystem::remove(socket_);
    std::vector<std::string> args = {"redis-server", "--port", "0", "--unixsocket",
                                     socket_,        "--save", "",  "--appendonly",
                                     "no",           "--dir",  dir};
    std::vector<char*> argv;
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = 0;
    }
    for (int i = 0; i < 100 && !std::filesystem::exists(socket_); i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~RedisServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string url() const { return "unix://" + socket_; }
  // What redis-cli prints for a command ("PUBSUB NUMSUB chat").
  std::string cli(const std::string& command) const {
    std::string out;
    if (FILE* f = popen(("redis-cli -s " + socket_ + " " + command).c_str(), "r")) {
      char buf[256];
      while (size_t n = fread(buf, 1, sizeof buf, f)) {
        out.append(buf, n);
      }
      pclose(f);
    }
    return out;
  }
  bool up() const { return pid_ > 0 && std::filesystem::exists(socket_); }

 private:
  std::string socket_;
  pid_t pid_ = 0;
};

}  // namespace valk::test
