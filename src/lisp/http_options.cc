#include "lisp/http_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <tuple>

#include "lisp/collections.h"
#include "lisp/json.h"
#include "lisp/printer.h"
#include "util/ascii.h"

namespace valk::lisp::http {
namespace {

std::string_view name_of(Value v) {
  if (v.is(Tag::Keyword) || v.is(Tag::Symbol)) {
    return static_cast<Symbol*>(v.o)->name->view();
  }
  return static_cast<String*>(v.o)->view();
}

// A content-length's value, or -1 if it is not one.
int64_t parse_length(std::string_view s) {
  int64_t n = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc() && end == s.data() + s.size() && n >= 0 ? n : -1;
}

// One pass: find_first_of would search the set once per byte.
bool has_line_break(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

class Options {
 public:
  Options(Isolate& iso, Value opts, const Value* option_keys, RequestSpec* spec, std::string* url)
      : iso_(iso), opts_(opts), option_keys_(option_keys), spec_(spec), url_(url) {}

  Value apply() {
    Value err = Value::nil();
    map_each(opts_, [&](Value k, Value v) {
      size_t i = 0;
      while (i < kOptions && !identical(k, option_keys_[i])) {
        ++i;
      }
      if (i < kOptions) {
        given_[i] = true;
        values_[i] = v;
      } else {
        std::string names;
        for (const char* n : kOptionNames) {
          names += std::string(names.empty() ? ":" : " :") + n;
        }
        err = iso_.raise_error("type-error", "http/request: unknown option " + print_str(k, true) +
                                                 " (options: " + names + ")");
        return false;
      }
      return true;
    });
    if (!err.is_nil()) {
      return err;
    }
    for (auto step : {&Options::url, &Options::method_and_body, &Options::headers, &Options::limits,
                      &Options::tls_and_version, &Options::body_as}) {
      if (Value e = (this->*step)(); !e.is_nil()) {
        return e;
      }
    }
    return Value::nil();
  }

 private:
  // The option's value, if the map has it.
  bool get(Option o, Value* out) {
    *out = values_[o];
    return given_[o];
  }

  Value url() {
    Value v;
    if (!get(kUrl, &v) || !v.is(Tag::String)) {
      return iso_.type_error("http/request", "a string :url", get(kUrl, &v) ? v : Value::nil());
    }
    *url_ = std::string(static_cast<String*>(v.o)->view());
    return Value::nil();
  }

  Value method_and_body() {
    RequestSpec& spec = *spec_;
    Value v;
    if (get(kMethod, &v)) {
      if (!v.is(Tag::Keyword) && !v.is(Tag::String)) {
        return iso_.type_error("http/request", "a keyword or string :method", v);
      }
      spec.method = std::string(name_of(v));
      for (char& c : spec.method) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      if (spec.method.empty() || spec.method.find_first_of(" \t\r\n") != std::string::npos) {
        return iso_.raise_error("type-error", "http/request: not a method: " + spec.method);
      }
    }
    if (get(kBody, &v) && (v.is(Tag::Closure) || v.is(Tag::Native))) {
      spec.body_fn = v;
      spec.body_streams = true;
      spec.has_payload = true;
    } else if (get(kBody, &v) && !v.is_nil()) {
      std::string_view body;
      if (!text_or_bytes(v, &body)) {
        return iso_.type_error("http/request", "a string, bytes or function :body", v);
      }
      spec.payload = body;
      spec.has_payload = true;
    }
    if (get(kJson, &v)) {
      if (spec.has_payload) {
        return iso_.raise_error("type-error", "http/request: both :body and :json");
      }
      std::string err;
      if (!json_write(v, JsonWriteOptions{}, &spec.payload, &err)) {
        return iso_.raise_error("json-error", "http/request: :json: " + err);
      }
      spec.has_payload = true;
      spec.json_body = true;
    }
    return Value::nil();
  }

  Value headers() {
    RequestSpec& spec = *spec_;
    Value v;
    bool accept = false;
    if (get(kHeaders, &v) && !v.is_nil()) {
      if (!v.is(Tag::Map)) {
        return iso_.type_error("http/request", "a map of :headers", v);
      }
      Value err = Value::nil();
      map_each(v, [&](Value name, Value value) {
        if (!(name.is(Tag::String) || name.is(Tag::Keyword)) || !value.is(Tag::String)) {
          err = iso_.type_error("http/request", "string names and values in :headers",
                                value.is(Tag::String) ? name : value);
          return false;
        }
        std::string_view n = name_of(name);
        std::string_view s = static_cast<String*>(value.o)->view();
        if (n.empty() || has_line_break(n) || n.find(':') != n.npos || has_line_break(s)) {
          err = iso_.raise_error("type-error",
                                 "http/request: a header name or value with a line break, a "
                                 "colon in the name, or an empty name: " +
                                     std::string(n));
          return false;
        }
        spec.headers.emplace_back(std::string(n), std::string(s));
        if (spec.body_streams && ascii_iequals(spec.headers.back().first, "content-length")) {
          spec.body_length = parse_length(s);
          if (spec.body_length < 0) {
            err = iso_.raise_error("type-error",
                                   "http/request: not a content-length: " + std::string(s));
            return false;
          }
        }
        accept = accept || ascii_iequals(spec.headers.back().first, "accept");
        spec.accept_encoding =
            spec.accept_encoding || ascii_iequals(spec.headers.back().first, "accept-encoding");
        return true;
      });
      if (!err.is_nil()) {
        return err;
      }
    }
    Value as;
    spec.accept_json = get(kAs, &as) && as.is(Tag::Keyword) && name_of(as) == "json" && !accept;
    return Value::nil();
  }

  // A non-negative int option, or `fallback` when absent.
  Value count(Option o, int64_t fallback, int64_t* out) {
    Value v;
    *out = fallback;
    if (get(o, &v)) {
      if (!v.is_int() || v.i < 0) {
        return iso_.type_error("http/request",
                               std::string("a non-negative integer as :") + kOptionNames[o], v);
      }
      *out = v.i;
    }
    return Value::nil();
  }

  Value limits() {
    RequestSpec& spec = *spec_;
    for (auto [o, fallback, out] :
         {std::tuple{kTimeoutMs, kDefaultTimeoutMs, &spec.timeout_ms},
          std::tuple{kConnectTimeoutMs, kDefaultConnectTimeoutMs, &spec.connect_timeout_ms},
          std::tuple{kReadTimeoutMs, int64_t{0}, &spec.read_timeout_ms},
          std::tuple{kMaxBody, kDefaultMaxBody, &spec.max_body},
          std::tuple{kMaxRedirects, kDefaultMaxRedirects, &spec.max_redirects}}) {
      if (Value e = count(o, fallback, out); !e.is_nil()) {
        return e;
      }
    }
    return Value::nil();
  }

  Value tls_and_version() {
    RequestSpec& spec = *spec_;
    Value v;
    if (get(kVersion, &v)) {
      std::string_view n = v.is(Tag::Keyword) ? name_of(v) : "";
      if (n == "http1") {
        spec.version = Version::kHttp1;
      } else if (n == "http2") {
        spec.version = Version::kHttp2;
      } else {
        return iso_.type_error("http/request", ":http1 or :http2 as :version", v);
      }
    }
    if (get(kCaFile, &v)) {
      if (!v.is(Tag::String)) {
        return iso_.type_error("http/request", "a string :ca-file", v);
      }
      spec.has_ca_file = true;
      spec.ca_file = std::string(static_cast<String*>(v.o)->view());
    }
    spec.insecure = get(kInsecure, &v) && v.truthy();
    return Value::nil();
  }

  Value body_as() {
    Value v;
    BodyAs& as = spec_->as;
    if (get(kAs, &v)) {
      std::string_view n = v.is(Tag::Keyword) ? name_of(v) : "";
      if (n == "auto") {
        as = BodyAs::kAuto;
      } else if (n == "text") {
        as = BodyAs::kText;
      } else if (n == "bytes") {
        as = BodyAs::kBytes;
      } else if (n == "json") {
        as = BodyAs::kJson;
      } else if (n == "stream") {
        as = BodyAs::kStream;
      } else if (n == "upgrade") {
        as = BodyAs::kUpgrade;
      } else {
        return iso_.type_error("http/request",
                               ":auto, :text, :bytes, :json, :stream or :upgrade as :as", v);
      }
    }
    if (spec_->body_streams) {
      // Sent once, as it is written: a redirect's request could not send
      // it again.
      if (given_[kMaxRedirects] && spec_->max_redirects > 0) {
        return iso_.raise_error("type-error",
                                "http/request: a :body function follows no redirects (its body "
                                "is sent once)");
      }
      spec_->max_redirects = 0;
    }
    if (as == BodyAs::kUpgrade && spec_->body_streams) {
      return iso_.raise_error("type-error",
                              "http/request: a :body function with :as :upgrade (after the 101, "
                              "http/write sends on the connection)");
    }
    if (as != BodyAs::kStream && as != BodyAs::kUpgrade && given_[kReadTimeoutMs]) {
      return iso_.raise_error("type-error",
                              "http/request: :read-timeout-ms is for :as :stream or :upgrade");
    }
    return Value::nil();
  }

  Isolate& iso_;
  Value opts_;
  const Value* option_keys_;
  RequestSpec* spec_;
  std::string* url_;
  // What the map gives, by Option.
  bool given_[kOptions] = {};
  Value values_[kOptions];
};

}  // namespace

Value read_http_options(Isolate& iso, Value opts, const Value* option_keys, RequestSpec* spec,
                        std::string* url) {
  return Options(iso, opts, option_keys, spec, url).apply();
}

}  // namespace valk::lisp::http
