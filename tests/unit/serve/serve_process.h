// Runs `valk serve` as a child process for end-to-end tests (see
// ValkProcess), and writes the apps it serves.
#pragma once

#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "../net/valk_process.h"

namespace valk::test {

inline std::string write_app(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

class ServeProcess : public ValkProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args, const std::function<void()>& in_child = {})
      : ValkProcess("serve", std::move(args), in_child) {}
};

}  // namespace valk::test
