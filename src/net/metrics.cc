#include "net/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

namespace valk::net {

void MetricsText::family(std::string_view name, Type type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += type == Type::kCounter ? " counter\n"
          : type == Type::kGauge ? " gauge\n"
                                 : " histogram\n";
}

void MetricsText::sample(std::string_view name, std::string_view labels, uint64_t value) {
  char b[32];
  snprintf(b, sizeof b, " %" PRIu64 "\n", value);
  out_.append(name).append(labels).append(b);
}

void MetricsText::histogram(std::string_view name, std::string_view labels,
                            const RequestDurations& d) {
  std::string base(name);
  std::string sep = labels.empty() ? "" : std::string(labels) + ",";
  std::string plain = labels.empty() ? "" : "{" + std::string(labels) + "}";
  uint64_t cumulative = 0;
  char le[32];
  for (size_t i = 0; i < std::size(RequestDurations::kBoundsUs); ++i) {
    cumulative += d.counts[i];
    snprintf(le, sizeof le, "le=\"%g\"}", RequestDurations::kBoundsUs[i] / 1e6);
    sample(base + "_bucket", "{" + sep + le, cumulative);
  }
  cumulative += d.counts[RequestDurations::kBuckets - 1];
  sample(base + "_bucket", "{" + sep + "le=\"+Inf\"}", cumulative);
  sample(base + "_sum", plain, d.sum_ns / 1e9);
  sample(base + "_count", plain, cumulative);
}

std::string MetricsText::label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void MetricsText::sample(std::string_view name, std::string_view labels, double value) {
  char b[40];
  snprintf(b, sizeof b, " %.9g\n", value);
  out_.append(name).append(labels).append(b);
}

void MetricsText::counter(std::string_view name, std::string_view help, uint64_t value) {
  family(name, Type::kCounter, help);
  sample(name, "", value);
}

void MetricsText::gauge(std::string_view name, std::string_view help, uint64_t value) {
  family(name, Type::kGauge, help);
  sample(name, "", value);
}

namespace {

using Type = MetricsText::Type;

// How each counter of the server is exposed. Entries of one family are
// consecutive, told apart by their labels.
struct CounterMetric {
  Counter counter;
  const char* family;
  const char* labels;
  Type type;
  const char* help;
};

constexpr const char* kRequestsHelp = "Requests received: HTTP/1.x requests and HTTP/2 streams.";
constexpr const char* kErrorsHelp = "Responses sent with a 4xx or 5xx status.";
constexpr const char* kTimeoutsHelp = "Connections or requests ended by a timeout, by kind.";
constexpr const char* kLimitsHelp = "Requests refused for passing a limit (414, 431, 413).";

constexpr CounterMetric kCounterMetrics[] = {
    {Counter::kConnectionsAccepted, "valk_connections_accepted_total", "", Type::kCounter,
     "Connections accepted."},
    {Counter::kConnectionsActive, "valk_connections_open", "", Type::kGauge, "Connections open."},
    {Counter::kConnectionsRejected, "valk_connections_kept_waiting_total", "", Type::kCounter,
     "Connections left in the listen queue at max_connections, each counted once."},
    {Counter::kTlsHandshakes, "valk_tls_handshakes_total", "", Type::kCounter,
     "TLS handshakes completed."},
    {Counter::kTlsHandshakeFailures, "valk_tls_handshake_failures_total", "", Type::kCounter,
     "TLS handshakes that failed."},
    {Counter::kTlsResumed, "valk_tls_sessions_resumed_total", "", Type::kCounter,
     "TLS handshakes that resumed a session."},
    {Counter::kRequestsH1, "valk_requests_total", "{protocol=\"http1\"}", Type::kCounter,
     kRequestsHelp},
    {Counter::kStreamsH2, "valk_requests_total", "{protocol=\"http2\"}", Type::kCounter,
     kRequestsHelp},
    {Counter::kStreamsActive, "valk_requests_open", "", Type::kGauge,
     "Requests (HTTP/1.x) and HTTP/2 streams open."},
    {Counter::kBytesIn, "valk_received_bytes_total", "", Type::kCounter,
     "Bytes read from clients, TLS records included."},
    {Counter::kBytesOut, "valk_sent_bytes_total", "", Type::kCounter,
     "Bytes written to clients, TLS records included."},
    {Counter::kResponses4xx, "valk_error_responses_total", "{class=\"4xx\"}", Type::kCounter,
     kErrorsHelp},
    {Counter::kResponses5xx, "valk_error_responses_total", "{class=\"5xx\"}", Type::kCounter,
     kErrorsHelp},
    {Counter::kProtocolErrors, "valk_protocol_errors_total", "", Type::kCounter,
     "Connections or HTTP/2 streams ended for breaking the protocol."},
    {Counter::kTimeoutsHandshake, "valk_timeouts_total", "{kind=\"handshake\"}", Type::kCounter,
     kTimeoutsHelp},
    {Counter::kTimeoutsIdle, "valk_timeouts_total", "{kind=\"idle\"}", Type::kCounter,
     kTimeoutsHelp},
    {Counter::kTimeoutsHeader, "valk_timeouts_total", "{kind=\"header\"}", Type::kCounter,
     kTimeoutsHelp},
    {Counter::kTimeoutsBody, "valk_timeouts_total", "{kind=\"body\"}", Type::kCounter,
     kTimeoutsHelp},
    {Counter::kTimeoutsWrite, "valk_timeouts_total", "{kind=\"write\"}", Type::kCounter,
     kTimeoutsHelp},
    {Counter::kLimitUrl, "valk_limit_rejections_total", "{limit=\"url\"}", Type::kCounter,
     kLimitsHelp},
    {Counter::kLimitHeaders, "valk_limit_rejections_total", "{limit=\"headers\"}", Type::kCounter,
     kLimitsHelp},
    {Counter::kLimitBody, "valk_limit_rejections_total", "{limit=\"body\"}", Type::kCounter,
     kLimitsHelp},
    {Counter::kClientResets, "valk_client_resets_total", "", Type::kCounter,
     "RST_STREAM frames received from HTTP/2 clients."},
    {Counter::kFloodsDetected, "valk_floods_total", "", Type::kCounter,
     "HTTP/2 connections closed for a flood: rapid reset, SETTINGS, PING or CONTINUATION."},
    {Counter::kQueueFull, "valk_response_queue_full_total", "", Type::kCounter,
     "Response parts dropped because a reactor's queue stayed full."},
    {Counter::kConnSlotsInUse, "valk_connection_slots_used", "", Type::kGauge,
     "Connection slots in use."},
    {Counter::kConnSlotsHighWater, "valk_connection_slots_high_water", "", Type::kGauge,
     "Connection slots ever in use at once, summed over reactors."},
    {Counter::kBuffersInUse, "valk_buffers_used", "", Type::kGauge, "I/O buffers in use."},
    {Counter::kBufferBytes, "valk_buffer_pool_bytes", "", Type::kGauge,
     "Bytes the I/O buffer pools hold, in use or free."},
    {Counter::kStreamSlotsInUse, "valk_stream_slots_used", "", Type::kGauge,
     "Stream slots in use (requests and HTTP/2 streams)."},
    {Counter::kStreamSlotsHighWater, "valk_stream_slots_high_water", "", Type::kGauge,
     "Stream slots ever in use at once, summed over reactors."},
    {Counter::kArenaBytes, "valk_stream_arena_bytes", "", Type::kGauge,
     "Heap bytes of the streams' arenas (long request heads)."},
    {Counter::kIdleMemoryReleased, "valk_idle_memory_released_bytes_total", "", Type::kCounter,
     "Bytes idle HTTP/2 connections gave back."},
};
static_assert(std::size(kCounterMetrics) == static_cast<size_t>(Counter::kCount),
              "every counter is exposed");

void append_durations(const RequestDurations& d, MetricsText& out) {
  constexpr const char* kName = "valk_request_duration_seconds";
  out.family(kName, Type::kHistogram,
             "Time from a request's first byte read to its response's last byte written.");
  out.histogram(kName, "", d);
}

// Fields of /proc/self/stat after the command name: state is field 3.
bool read_stat(uint64_t* utime, uint64_t* stime, uint64_t* threads, uint64_t* start) {
  std::ifstream f("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) {
    return false;
  }
  std::istringstream in(text.substr(paren + 2));
  std::string field;
  for (int n = 3; in >> field; ++n) {
    if (n == 14) {
      *utime = std::stoull(field);
    } else if (n == 15) {
      *stime = std::stoull(field);
    } else if (n == 20) {
      *threads = std::stoull(field);
    } else if (n == 22) {
      *start = std::stoull(field);
      return true;
    }
  }
  return false;
}

uint64_t boot_time_seconds() {
  std::ifstream f("/proc/stat");
  std::string key;
  uint64_t value = 0;
  while (f >> key) {
    if (key == "btime" && f >> value) {
      return value;
    }
    f.ignore(1 << 16, '\n');
  }
  return 0;
}

uint64_t open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return 0;
  }
  uint64_t n = 0;
  while (dirent* e = readdir(d)) {
    n += e->d_name[0] != '.';
  }
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

}  // namespace

void append_server_metrics(const Server& server, MetricsText& out) {
  ServerCounters c = server.counters();
  const char* family = "";
  for (const CounterMetric& m : kCounterMetrics) {
    if (std::string_view(m.family) != family) {
      family = m.family;
      out.family(m.family, m.type, m.help);
    }
    out.sample(m.family, m.labels, c[m.counter]);
  }
  append_durations(server.durations(), out);
}

void append_process_metrics(MetricsText& out) {
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  uint64_t utime = 0, stime = 0, threads = 0, start = 0;
  if (read_stat(&utime, &stime, &threads, &start)) {
    out.family("process_cpu_seconds_total", Type::kCounter,
               "User and system CPU time of the process, in seconds.");
    out.sample("process_cpu_seconds_total", "", (utime + stime) / tick);
    out.family("process_start_time_seconds", Type::kGauge,
               "When the process started, in seconds since the Unix epoch.");
    out.sample("process_start_time_seconds", "", boot_time_seconds() + start / tick);
    out.gauge("process_threads", "Threads of the process.", threads);
  }
  uint64_t pages_virtual = 0, pages_resident = 0;
  if (std::ifstream("/proc/self/statm") >> pages_virtual >> pages_resident) {
    uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    out.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
              pages_virtual * page);
    out.gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
              pages_resident * page);
  }
  out.gauge("process_open_fds", "Open file descriptors.", open_fds());
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.gauge("process_max_fds", "The limit on open file descriptors.", limit.rlim_cur);
  }
  out.family("valk_build_info", Type::kGauge, "The valk version, as a label.");
  out.sample("valk_build_info", "{version=\"" VALK_VERSION "\"}", uint64_t{1});
}

}  // namespace valk::net
