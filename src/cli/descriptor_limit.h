// The process's limit on open descriptors, raised at startup.
#pragma once

#include <cstdint>
#include <string>

namespace valk::cli {

// Raises the soft limit on open descriptors to the hard one, as Go's
// runtime does at startup: the usual soft limit (1024, systemd's default
// and most shells') is a tenth of what --max-connections allows by
// default, and past it the server refuses connections (EMFILE). Returns a
// warning to print when even the hard limit is short of `connections` and
// some room for listeners, files and outgoing connections, else "".
std::string raise_descriptor_limit(uint32_t connections);

}  // namespace valk::cli
