// How many CPUs this process may run on.
#pragma once

#include <sched.h>

#include <algorithm>
#include <thread>

namespace valk {

// The CPUs in the process's affinity mask (taskset, cgroup cpusets), so a
// server pinned to one core sizes itself for one; the machine's count if
// the mask cannot be read. At least 1.
inline unsigned available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace valk
