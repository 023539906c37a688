// Settings of `valk serve`, from `(serve app {...})` in the app and from
// command-line flags (flags win).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lisp/value.h"
#include "valk/server.h"

namespace valk::lisp {
class Heap;
}

namespace valk::serve {

constexpr int64_t kMaxInstructionBudget = 1'000'000'000'000'000;
constexpr int64_t kMaxQueueSize = 1 << 20;
constexpr uint64_t kDefaultInstructionBudget = 1'000'000'000;
// Bytes of the Lisp heap a request's handler may allocate (garbage
// included): a handler that piles up data is stopped before it takes the
// process's memory.
constexpr uint64_t kDefaultAllocationBudget = uint64_t{1} << 30;
constexpr int64_t kMaxAllocationBudget = int64_t{1} << 50;
// Enough for a burst of 100 h2 connections × 128 streams on one worker.
constexpr uint32_t kDefaultQueueSize = 16384;
constexpr uint32_t kDefaultDeadlineMs = 30000;
// Bodies with a declared length up to this are read whole before the
// handler runs; others stream in (read-body, read-chunk).
constexpr uint64_t kDefaultBufferedBody = 1 << 20;
constexpr int64_t kMaxBodySize = int64_t{1} << 40;
constexpr int64_t kMaxConnections = 1 << 24;

struct ServeConfig {
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  // The first is the default certificate; the others are chosen by SNI.
  std::vector<TlsCertificate> certificates;
  std::optional<std::string> client_ca;       // mTLS: verify clients against it
  std::optional<ClientCertMode> client_cert;  // with client_ca: kRequire unless set
  std::optional<uint16_t> tls_port;           // TLS here; plain HTTP and h2c on port
  std::optional<bool> https_redirect;         // plain requests get 308 to tls_port
  // Threads that each run a worker and a reactor on one loop (the default
  // layout, with one per core); or, instead, worker threads and reactor
  // threads, separately.
  std::optional<unsigned> threads;
  std::optional<unsigned> workers;
  std::optional<unsigned> reactors;
  std::optional<std::string> access_log;  // "-" for stdout
  std::optional<AccessLogFormat> log_format;
  std::optional<std::string> error_log;  // "-" for stderr
  std::optional<LogLevel> log_level;
  std::optional<uint32_t> request_deadline_ms;
  std::optional<uint64_t> instruction_budget;  // 0: no limit
  std::optional<uint64_t> allocation_budget;   // bytes; 0: no limit
  std::optional<uint32_t> queue_size;
  std::optional<uint64_t> max_body_size;        // larger bodies get 413
  std::optional<uint64_t> buffered_body_limit;  // see kDefaultBufferedBody
  std::optional<uint64_t> store_max_bytes;      // the shared store's; 0: no limit
  std::optional<uint32_t> max_connections;
  std::optional<uint32_t> idle_timeout_ms;   // 0: none
  std::optional<uint32_t> drain_timeout_ms;  // graceful shutdown deadline
  // true: threads = 1.
  std::optional<bool> single_thread;
  // URL prefix → directory, served by the reactors without the app.
  std::vector<std::pair<std::string, std::string>> static_dirs;
  // Where Prometheus scrapes /metrics: a listener of its own.
  std::optional<ListenAddress> metrics;

  // Fills the fields `other` has set.
  void override_with(const ServeConfig& other);
  bool operator==(const ServeConfig&) const = default;
};

// Checks a :static / --static URL prefix: "/x" or "/x/y", no trailing
// slash. Returns false with a message.
bool valid_static_prefix(const std::string& prefix, std::string* error);

// The address of --metrics / :metrics: "[HOST:]PORT", an IPv6 host in
// brackets ("[::1]:9464"), the host 127.0.0.1 if not given. Returns false
// with a message.
bool parse_metrics_address(std::string_view spec, ListenAddress* out, std::string* error);

// Reads the options map of (serve app {...}); docs/web.md lists the keys.
// Returns false with a message naming the bad or unknown option.
bool parse_serve_options(lisp::Heap& heap, lisp::Value opts, ServeConfig* out, std::string* error);

// Whether the settings, app's and flags' together, make sense (a TLS port
// needs a certificate, and so on). Returns false with a message.
bool check_serve_config(const ServeConfig& config, std::string* error);

}  // namespace valk::serve
