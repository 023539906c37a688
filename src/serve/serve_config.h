// Settings of `valk serve`, from `(serve app {...})` in the app and from
// command-line flags (flags win).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lisp/value.h"
#include "valk/server.h"

namespace valk::lisp {
class Heap;
}

namespace valk::serve {

struct ServeConfig {
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::optional<unsigned> workers;
  std::optional<unsigned> reactors;
  std::optional<std::string> access_log;  // "-" for stdout
  std::optional<AccessLogFormat> log_format;
  std::optional<uint32_t> request_deadline_ms;

  // Fills the fields `other` has set.
  void override_with(const ServeConfig& other);
};

// Reads the options map of (serve app {...}): :host :port :tls {:cert :key}
// :workers :reactors :access-log :log-format (:combined or :json)
// :deadline-ms. Returns false with a message naming the bad option.
bool parse_serve_options(lisp::Heap& heap, lisp::Value opts, ServeConfig* out, std::string* error);

}  // namespace valk::serve
