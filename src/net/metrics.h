// Metrics in Prometheus' text exposition format (version 0.0.4), for the
// `--metrics` listener of `valk serve` and `valk static`: the server's
// counters, its request-duration histogram and the process's own figures.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "valk/server.h"

namespace valk::net {

// What a scrape of /metrics is answered with.
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Builds the text: each family's # HELP and # TYPE lines, then its
// samples. Names and labels are the caller's constants (nothing is
// escaped but help text).
class MetricsText {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  void family(std::string_view name, Type type, std::string_view help);
  // A sample of the family last begun; `labels` is "" or `{name="value"}`.
  void sample(std::string_view name, std::string_view labels, uint64_t value);
  void sample(std::string_view name, std::string_view labels, double value);
  // The _bucket, _sum and _count samples of histogram `name` (its family
  // begun), with `labels` ("" or `name="value",...` without braces) on
  // each.
  void histogram(std::string_view name, std::string_view labels, const RequestDurations& d);
  // `v` escaped for a label's value: backslash, quote and newline.
  static std::string label_value(std::string_view v);
  // A family of one sample without labels.
  void counter(std::string_view name, std::string_view help, uint64_t value);
  void gauge(std::string_view name, std::string_view help, uint64_t value);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// The server's counters (all of ServerCounters, as families named valk_*)
// and, when it keeps one, its request-duration histogram.
void append_server_metrics(const Server& server, MetricsText& out);
// process_cpu_seconds_total, process_resident_memory_bytes and the rest of
// the figures Prometheus' client libraries report for a process, from
// /proc/self; and valk_build_info.
void append_process_metrics(MetricsText& out);

}  // namespace valk::net
