#include "serve/serve_config.h"

#include <algorithm>
#include <charconv>

#include "lisp/collections.h"
#include "lisp/heap.h"
#include "lisp/printer.h"

namespace valk::serve {

using lisp::Tag;
using lisp::Value;

void ServeConfig::override_with(const ServeConfig& o) {
  if (o.host)
    host = o.host;
  if (o.port)
    port = o.port;
  if (!o.certificates.empty())
    certificates = o.certificates;
  if (o.client_ca)
    client_ca = o.client_ca;
  if (o.client_cert)
    client_cert = o.client_cert;
  if (o.tls_port)
    tls_port = o.tls_port;
  if (o.https_redirect)
    https_redirect = o.https_redirect;
  // The thread layout is one choice: flags that make it replace the app's.
  if (o.threads || o.single_thread || o.workers || o.reactors) {
    threads = o.threads;
    single_thread = o.single_thread;
    workers = o.workers;
    reactors = o.reactors;
  }
  if (o.access_log)
    access_log = o.access_log;
  if (o.log_format)
    log_format = o.log_format;
  if (o.error_log)
    error_log = o.error_log;
  if (o.log_level)
    log_level = o.log_level;
  if (o.request_deadline_ms)
    request_deadline_ms = o.request_deadline_ms;
  if (o.instruction_budget)
    instruction_budget = o.instruction_budget;
  if (o.allocation_budget)
    allocation_budget = o.allocation_budget;
  if (o.queue_size)
    queue_size = o.queue_size;
  if (o.max_body_size)
    max_body_size = o.max_body_size;
  if (o.buffered_body_limit)
    buffered_body_limit = o.buffered_body_limit;
  if (o.store_max_bytes)
    store_max_bytes = o.store_max_bytes;
  if (o.max_connections)
    max_connections = o.max_connections;
  if (o.idle_timeout_ms)
    idle_timeout_ms = o.idle_timeout_ms;
  if (o.drain_timeout_ms)
    drain_timeout_ms = o.drain_timeout_ms;
  if (o.metrics)
    metrics = o.metrics;
  for (const auto& entry : o.static_dirs) {
    auto same = [&](const auto& e) { return e.first == entry.first; };
    auto it = std::find_if(static_dirs.begin(), static_dirs.end(), same);
    if (it != static_dirs.end()) {
      it->second = entry.second;
    } else {
      static_dirs.push_back(entry);
    }
  }
}

bool valid_static_prefix(const std::string& prefix, std::string* error) {
  if (prefix.size() < 2 || prefix[0] != '/' || prefix.back() == '/' ||
      prefix.find("//") != std::string::npos) {
    *error = "a static URL prefix looks like \"/assets\" (a path, no trailing slash), got \"" +
             prefix + "\"";
    return false;
  }
  return true;
}

bool parse_metrics_address(std::string_view spec, ListenAddress* out, std::string* error) {
  ListenAddress a;
  a.tls = false;
  std::string_view port = spec;
  if (!spec.empty() && spec[0] == '[') {
    size_t close = spec.find("]:");
    if (close == std::string_view::npos) {
      *error = "the metrics address is [IPV6]:PORT, got \"" + std::string(spec) + "\"";
      return false;
    }
    a.host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else if (size_t colon = spec.find(':'); colon != std::string_view::npos) {
    if (spec.find(':', colon + 1) != std::string_view::npos) {
      *error = "an IPv6 metrics address goes in brackets, as [::1]:9464, got \"" +
               std::string(spec) + "\"";
      return false;
    }
    a.host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  unsigned n = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (a.host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
      n > 65535) {
    *error = "the metrics address is [HOST:]PORT, as 9464 or 0.0.0.0:9464, got \"" +
             std::string(spec) + "\"";
    return false;
  }
  a.port = static_cast<uint16_t>(n);
  *out = a;
  return true;
}

namespace {

// The option name as written in the app: ":tls :client-ca" for a nested one.
std::string option_name(const char* parent, const char* key) {
  return parent ? std::string(":") + parent + " :" + key : std::string(":") + key;
}

// Whether every key of `map` is one of `known`; otherwise names the first
// that is not (a typo must not pass for a default).
bool known_keys(lisp::Heap& h, Value map, const char* parent,
                std::initializer_list<const char*> known, std::string* error) {
  bool ok = true;
  lisp::map_each(map, [&](Value key, Value) {
    for (const char* k : known) {
      if (identical(key, h.keyword(k))) {
        return true;
      }
    }
    std::string list;
    for (const char* k : known) {
      list += std::string(list.empty() ? ":" : " :") + k;
    }
    *error = std::string("serve: unknown option ") +
             (parent ? std::string(":") + parent + " " : "") + lisp::print_str(key, true) +
             " (known: " + list + ")";
    ok = false;
    return false;
  });
  return ok;
}

// Reads the value of `key` in `map` if present and not nil: false if it is
// there but `check` refuses it, with a message saying what it must be.
template <typename Check>
bool get(lisp::Heap& h, Value map, const char* parent, const char* key, const char* must_be,
         std::string* error, Check check) {
  Value v;
  if (!lisp::map_find(map, h.keyword(key), &v) || v.is_nil() || check(v)) {
    return true;
  }
  *error = "serve: " + option_name(parent, key) + " must be " + must_be + ", got " +
           lisp::print_str(v, true);
  return false;
}

bool get_string(lisp::Heap& h, Value map, const char* parent, const char* key,
                std::optional<std::string>* out, std::string* error) {
  return get(h, map, parent, key, "a string", error, [&](Value v) {
    if (!v.is(Tag::String)) {
      return false;
    }
    *out = std::string(static_cast<lisp::String*>(v.o)->view());
    return true;
  });
}

template <typename Int>
bool get_int(lisp::Heap& h, Value map, const char* key, int64_t min, int64_t max,
             std::optional<Int>* out, std::string* error) {
  std::string must_be = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  return get(h, map, nullptr, key, must_be.c_str(), error, [&](Value v) {
    if (!v.is_int() || v.i < min || v.i > max) {
      return false;
    }
    *out = static_cast<Int>(v.i);
    return true;
  });
}

bool get_bool(lisp::Heap& h, Value map, const char* key, std::optional<bool>* out,
              std::string* error) {
  return get(h, map, nullptr, key, "true or false", error, [&](Value v) {
    if (!v.is(Tag::Bool)) {
      return false;
    }
    *out = v.b;
    return true;
  });
}

// A keyword among `choices` (names, in the order of T's values).
template <typename T>
bool get_choice(lisp::Heap& h, Value map, const char* parent, const char* key,
                std::initializer_list<std::pair<const char*, T>> choices, std::optional<T>* out,
                std::string* error) {
  std::string must_be;
  for (const auto& [name, value] : choices) {
    must_be += std::string(must_be.empty() ? ":" : " or :") + name;
  }
  return get(h, map, parent, key, must_be.c_str(), error, [&](Value v) {
    for (const auto& [name, value] : choices) {
      if (identical(v, h.keyword(name))) {
        *out = value;
        return true;
      }
    }
    return false;
  });
}

// {:cert "file" :key "file"}, both required.
bool get_certificate(lisp::Heap& h, Value map, const char* parent, TlsCertificate* out,
                     std::string* error) {
  std::optional<std::string> cert, key;
  if (!get_string(h, map, parent, "cert", &cert, error) ||
      !get_string(h, map, parent, "key", &key, error)) {
    return false;
  }
  if (!cert || !key) {
    *error = std::string("serve: :") + parent + " needs both :cert and :key";
    return false;
  }
  *out = {*cert, *key};
  return true;
}

// :tls {:cert :key :sni [{:cert :key} ...] :client-ca :client-cert}
bool parse_tls(lisp::Heap& h, Value tls, ServeConfig* out, std::string* error) {
  if (!tls.is(Tag::Map)) {
    *error = "serve: :tls must be a map {:cert \"file\" :key \"file\"}";
    return false;
  }
  TlsCertificate first;
  if (!known_keys(h, tls, "tls", {"cert", "key", "sni", "client-ca", "client-cert"}, error) ||
      !get_certificate(h, tls, "tls", &first, error) ||
      !get_string(h, tls, "tls", "client-ca", &out->client_ca, error) ||
      !get_choice<ClientCertMode>(
          h, tls, "tls", "client-cert",
          {{"request", ClientCertMode::kRequest}, {"require", ClientCertMode::kRequire}},
          &out->client_cert, error)) {
    return false;
  }
  out->certificates = {first};
  Value sni;
  if (!lisp::map_find(tls, h.keyword("sni"), &sni) || sni.is_nil()) {
    return true;
  }
  if (!sni.is(Tag::Vector)) {
    *error = "serve: :tls :sni must be a vector of {:cert \"file\" :key \"file\"}";
    return false;
  }
  bool ok = true;
  lisp::vector_each(sni, [&](Value entry) {
    TlsCertificate c;
    if (!entry.is(Tag::Map)) {
      *error = "serve: :tls :sni must be a vector of {:cert \"file\" :key \"file\"}";
      ok = false;
    } else {
      ok = get_certificate(h, entry, "tls :sni", &c, error);
    }
    if (ok) {
      out->certificates.push_back(c);
    }
    return ok;
  });
  if (!ok) {
    return false;
  }
  return true;
}

bool parse_static(Value statics, ServeConfig* out, std::string* error) {
  if (!statics.is(Tag::Map)) {
    *error = "serve: :static must be a map {\"/prefix\" \"directory\"}";
    return false;
  }
  bool ok = true;
  lisp::map_each(statics, [&](Value prefix, Value dir) {
    if (!prefix.is(Tag::String) || !dir.is(Tag::String)) {
      *error = "serve: :static maps a URL prefix string to a directory string";
      ok = false;
      return false;
    }
    std::string p(static_cast<lisp::String*>(prefix.o)->view());
    if (!valid_static_prefix(p, error)) {
      *error = "serve: :static: " + *error;
      ok = false;
      return false;
    }
    out->static_dirs.emplace_back(std::move(p),
                                  std::string(static_cast<lisp::String*>(dir.o)->view()));
    return true;
  });
  return ok;
}

}  // namespace

bool parse_serve_options(lisp::Heap& h, Value opts, ServeConfig* out, std::string* error) {
  if (opts.is_nil()) {
    return true;
  }
  if (!opts.is(Tag::Map)) {
    *error = "serve: the options must be a map, got " + lisp::print_str(opts, true);
    return false;
  }
  constexpr uint32_t kDay = 86400000;
  if (!known_keys(h, opts, nullptr,
                  {"host",
                   "port",
                   "tls",
                   "tls-port",
                   "https-redirect",
                   "threads",
                   "workers",
                   "reactors",
                   "access-log",
                   "log-format",
                   "error-log",
                   "log-level",
                   "deadline-ms",
                   "instruction-budget",
                   "allocation-budget",
                   "queue-size",
                   "max-body-size",
                   "buffered-body-limit",
                   "store-max-bytes",
                   "max-connections",
                   "idle-timeout",
                   "drain-timeout",
                   "static",
                   "single-thread",
                   "metrics"},
                  error) ||
      !get_string(h, opts, nullptr, "host", &out->host, error) ||
      !get_int(h, opts, "port", 0, 65535, &out->port, error) ||
      !get_int(h, opts, "tls-port", 0, 65535, &out->tls_port, error) ||
      !get_bool(h, opts, "https-redirect", &out->https_redirect, error) ||
      !get_int(h, opts, "threads", 1, 256, &out->threads, error) ||
      !get_int(h, opts, "workers", 1, 256, &out->workers, error) ||
      !get_int(h, opts, "reactors", 1, 256, &out->reactors, error) ||
      !get_string(h, opts, nullptr, "access-log", &out->access_log, error) ||
      !get_choice<AccessLogFormat>(
          h, opts, nullptr, "log-format",
          {{"combined", AccessLogFormat::kCombined}, {"json", AccessLogFormat::kJson}},
          &out->log_format, error) ||
      !get_string(h, opts, nullptr, "error-log", &out->error_log, error) ||
      !get_choice<LogLevel>(h, opts, nullptr, "log-level",
                            {{"debug", LogLevel::kDebug},
                             {"info", LogLevel::kInfo},
                             {"warn", LogLevel::kWarn},
                             {"error", LogLevel::kError},
                             {"off", LogLevel::kOff}},
                            &out->log_level, error) ||
      !get_int(h, opts, "deadline-ms", 1, kDay, &out->request_deadline_ms, error) ||
      !get_int(h, opts, "instruction-budget", 0, kMaxInstructionBudget, &out->instruction_budget,
               error) ||
      !get_int(h, opts, "allocation-budget", 0, kMaxAllocationBudget, &out->allocation_budget,
               error) ||
      !get_int(h, opts, "queue-size", 1, kMaxQueueSize, &out->queue_size, error) ||
      !get_int(h, opts, "max-body-size", 0, kMaxBodySize, &out->max_body_size, error) ||
      !get_int(h, opts, "buffered-body-limit", 0, kMaxBodySize, &out->buffered_body_limit, error) ||
      !get_int(h, opts, "store-max-bytes", 0, kMaxBodySize, &out->store_max_bytes, error) ||
      !get_int(h, opts, "max-connections", 1, kMaxConnections, &out->max_connections, error) ||
      !get_int(h, opts, "idle-timeout", 0, kDay, &out->idle_timeout_ms, error) ||
      !get_int(h, opts, "drain-timeout", 0, kDay, &out->drain_timeout_ms, error) ||
      !get_bool(h, opts, "single-thread", &out->single_thread, error)) {
    return false;
  }
  Value metrics;
  if (lisp::map_find(opts, h.keyword("metrics"), &metrics) && !metrics.is_nil()) {
    std::string spec = metrics.is_int() ? std::to_string(metrics.i)
                       : metrics.is(Tag::String)
                           ? std::string(static_cast<lisp::String*>(metrics.o)->view())
                           : std::string();
    ListenAddress where;
    if (spec.empty() || !parse_metrics_address(spec, &where, error)) {
      *error =
          "serve: :metrics must be a port or \"HOST:PORT\", got " + lisp::print_str(metrics, true);
      return false;
    }
    out->metrics = where;
  }
  Value statics;
  if (lisp::map_find(opts, h.keyword("static"), &statics) && !statics.is_nil() &&
      !parse_static(statics, out, error)) {
    return false;
  }
  Value tls;
  if (lisp::map_find(opts, h.keyword("tls"), &tls) && !tls.is_nil() &&
      !parse_tls(h, tls, out, error)) {
    return false;
  }
  return true;
}

bool check_serve_config(const ServeConfig& c, std::string* error) {
  const char* problem = nullptr;
  if (c.certificates.empty() && (c.tls_port || c.client_ca || c.client_cert)) {
    problem = "a TLS port and client certificates need a certificate (--tls-cert and --tls-key)";
  } else if (c.client_cert && !c.client_ca) {
    problem = "asking for client certificates needs a CA to verify them (--client-ca)";
  } else if (c.https_redirect.value_or(false) && c.tls_port.value_or(0) == 0) {
    problem = "the redirect to HTTPS needs a fixed TLS port beside the plain one (--tls-port)";
  } else if ((c.threads || c.single_thread.value_or(false)) && (c.workers || c.reactors)) {
    problem =
        "threads (each a worker and a reactor) and separate workers or reactors are two "
        "layouts: choose one";
  } else if (c.single_thread.value_or(false) && c.threads.value_or(1) != 1) {
    problem = "single-thread and more than one thread contradict each other";
  }
  if (problem) {
    *error = std::string("valk serve: ") + problem;
  }
  return problem == nullptr;
}

}  // namespace valk::serve
