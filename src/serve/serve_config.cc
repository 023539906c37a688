#include "serve/serve_config.h"

#include <algorithm>

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
  if (o.tls_cert)
    tls_cert = o.tls_cert;
  if (o.tls_key)
    tls_key = o.tls_key;
  if (o.workers)
    workers = o.workers;
  if (o.reactors)
    reactors = o.reactors;
  if (o.access_log)
    access_log = o.access_log;
  if (o.log_format)
    log_format = o.log_format;
  if (o.request_deadline_ms)
    request_deadline_ms = o.request_deadline_ms;
  if (o.instruction_budget)
    instruction_budget = o.instruction_budget;
  if (o.queue_size)
    queue_size = o.queue_size;
  if (o.max_body_size)
    max_body_size = o.max_body_size;
  if (o.buffered_body_limit)
    buffered_body_limit = o.buffered_body_limit;
  if (o.single_thread)
    single_thread = o.single_thread;
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

namespace {

bool get_string(lisp::Heap& h, Value map, const char* key, std::optional<std::string>* out,
                std::string* error) {
  Value v;
  if (!lisp::map_find(map, h.keyword(key), &v) || v.is_nil()) {
    return true;
  }
  if (!v.is(Tag::String)) {
    *error = std::string("serve: :") + key + " must be a string, got " + lisp::print_str(v, true);
    return false;
  }
  *out = std::string(static_cast<lisp::String*>(v.o)->view());
  return true;
}

bool get_int(lisp::Heap& h, Value map, const char* key, int64_t min, int64_t max,
             std::optional<int64_t>* out, std::string* error) {
  Value v;
  if (!lisp::map_find(map, h.keyword(key), &v) || v.is_nil()) {
    return true;
  }
  if (!v.is_int() || v.i < min || v.i > max) {
    *error = std::string("serve: :") + key + " must be an integer from " + std::to_string(min) +
             " to " + std::to_string(max) + ", got " + lisp::print_str(v, true);
    return false;
  }
  *out = v.i;
  return true;
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
  std::optional<int64_t> port, workers, reactors, deadline, budget, queue, max_body, buffered;
  std::optional<std::string> format;
  if (!get_string(h, opts, "host", &out->host, error) ||
      !get_int(h, opts, "port", 0, 65535, &port, error) ||
      !get_int(h, opts, "workers", 1, 256, &workers, error) ||
      !get_int(h, opts, "reactors", 1, 256, &reactors, error) ||
      !get_int(h, opts, "deadline-ms", 1, 86400000, &deadline, error) ||
      !get_int(h, opts, "instruction-budget", 0, kMaxInstructionBudget, &budget, error) ||
      !get_int(h, opts, "queue-size", 1, kMaxQueueSize, &queue, error) ||
      !get_int(h, opts, "max-body-size", 0, kMaxBodySize, &max_body, error) ||
      !get_int(h, opts, "buffered-body-limit", 0, kMaxBodySize, &buffered, error) ||
      !get_string(h, opts, "access-log", &out->access_log, error)) {
    return false;
  }
  if (port)
    out->port = static_cast<uint16_t>(*port);
  if (workers)
    out->workers = static_cast<unsigned>(*workers);
  if (reactors)
    out->reactors = static_cast<unsigned>(*reactors);
  if (deadline)
    out->request_deadline_ms = static_cast<uint32_t>(*deadline);
  if (budget)
    out->instruction_budget = static_cast<uint64_t>(*budget);
  if (queue)
    out->queue_size = static_cast<uint32_t>(*queue);
  if (max_body)
    out->max_body_size = static_cast<uint64_t>(*max_body);
  if (buffered)
    out->buffered_body_limit = static_cast<uint64_t>(*buffered);
  Value fmt;
  if (lisp::map_find(opts, h.keyword("log-format"), &fmt) && !fmt.is_nil()) {
    if (identical(fmt, h.keyword("json"))) {
      out->log_format = AccessLogFormat::kJson;
    } else if (identical(fmt, h.keyword("combined"))) {
      out->log_format = AccessLogFormat::kCombined;
    } else {
      *error = "serve: :log-format must be :combined or :json, got " + lisp::print_str(fmt, true);
      return false;
    }
  }
  Value single;
  if (lisp::map_find(opts, h.keyword("single-thread"), &single) && !single.is_nil()) {
    if (!single.is(Tag::Bool)) {
      *error = "serve: :single-thread must be true or false, got " + lisp::print_str(single, true);
      return false;
    }
    out->single_thread = single.b;
  }
  Value statics;
  if (lisp::map_find(opts, h.keyword("static"), &statics) && !statics.is_nil()) {
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
    if (!ok) {
      return false;
    }
  }
  Value tls;
  if (lisp::map_find(opts, h.keyword("tls"), &tls) && !tls.is_nil()) {
    if (!tls.is(Tag::Map)) {
      *error = "serve: :tls must be a map {:cert \"file\" :key \"file\"}";
      return false;
    }
    if (!get_string(h, tls, "cert", &out->tls_cert, error) ||
        !get_string(h, tls, "key", &out->tls_key, error)) {
      return false;
    }
    if (!out->tls_cert || !out->tls_key) {
      *error = "serve: :tls needs both :cert and :key";
      return false;
    }
  }
  return true;
}

}  // namespace valk::serve
