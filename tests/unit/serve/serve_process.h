// Runs `valk serve` as a child process for end-to-end tests (see
// ValkProcess), and writes the apps it serves.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "../net/valk_process.h"

namespace valk::test {

// Writes `text` as the app file `name`, in a directory of this process's
// own: ctest runs each test as a process of its own, in parallel, and a
// suite's setup in each writes the same name (one process read another's
// half-written file).
inline std::string write_app(const std::string& name, const std::string& text) {
  std::string dir = testing::TempDir() + "/valk-apps-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

class ServeProcess : public ValkProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args, const std::function<void()>& in_child = {})
      : ValkProcess("serve", std::move(args), in_child) {}
};

}  // namespace valk::test
