// valk::Server, valk::Responder and the listening sockets.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "net/metrics.h"
#include "net/server_impl.h"
#include "util/ascii.h"
#include "util/cores.h"

namespace valk {

namespace net {

ServerImpl::~ServerImpl() {
  if (started_) {
    shutdown();
    wait();
  }
}

// Binds one socket per (reactor, address) with SO_REUSEPORT, so the kernel
// spreads connections over the reactors without a shared accept lock.
bool ServerImpl::bind_all(unsigned n, std::vector<std::vector<ListenFd>>* fds, std::string* error) {
  fds->assign(n, {});
  for (const ListenAddress& la : options.listen) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (uv_ip4_addr(la.host.c_str(), la.port, reinterpret_cast<sockaddr_in*>(&ss)) == 0) {
      len = sizeof(sockaddr_in);
    } else if (uv_ip6_addr(la.host.c_str(), la.port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) {
      len = sizeof(sockaddr_in6);
    } else {
      *error = "bad listen address " + la.host;
      return false;
    }
    uint16_t port = la.port;
    // SO_REUSEPORT would also let us share the port with another process's
    // listener. A probe bound without it fails with EADDRINUSE then, so a
    // port in use is an error, not a silent split of the traffic.
    int probe = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
      *error = std::string("socket: ") + strerror(errno);
      return false;
    }
    int yes = 1;
    setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (ss.ss_family == AF_INET6) {
      setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof yes);
    }
    if (bind(probe, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      *error = "bind " + la.host + ":" + std::to_string(port) + ": " + strerror(errno);
      close(probe);
      return false;
    }
    close(probe);
    for (unsigned i = 0; i < n; ++i) {
      int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        *error = std::string("socket: ") + strerror(errno);
        return false;
      }
      (*fds)[i].push_back(ListenFd{fd, la.tls && !options.certificates.empty()});
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      if (ss.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
      } else {
        reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
      }
      if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        *error = "bind " + la.host + ":" + std::to_string(port) + ": " + strerror(errno);
        return false;
      }
      if (port == 0) {
        sockaddr_storage bound{};
        socklen_t blen = sizeof bound;
        getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
        port =
            ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      }
    }
    ports.push_back(port);
  }
  return true;
}

bool ServerImpl::start(std::string* error) {
  if (started_) {
    *error = "already started";
    return false;
  }
  bool host_loops = !options.loops.empty();
  if (host_loops) {
    options.reactors = static_cast<unsigned>(options.loops.size());
    if (!options.run_on_loop) {
      options.run_on_loop = [](size_t, const std::function<void()>& step) { step(); };
    }
  } else if (options.reactors == 0) {
    options.reactors = available_cores();
  }
  if (!log.open(options.access_log, options.error_log, options.log_level,
                options.access_log_format == AccessLogFormat::kJson, error)) {
    return false;
  }
  if (!options.certificates.empty() && !reload_certificates(error)) {
    return false;
  }
  std::vector<std::vector<ListenFd>> fds;
  if (!bind_all(options.reactors, &fds, error)) {
    for (auto& v : fds) {
      for (ListenFd& l : v) {
        close(l.fd);
      }
    }
    return false;
  }
  if (host_loops) {
    return start_on_host_loops(fds, error);
  }
  for (unsigned i = 0; i < options.reactors; ++i) {
    reactors_.push_back(std::make_unique<Reactor>(this, static_cast<int>(i)));
    if (!reactors_.back()->init(fds[i], error)) {
      // The loops never ran: let each close its handles.
      for (auto& r : reactors_) {
        r->request_force_close();
        r->run();
      }
      reactors_.clear();
      return false;
    }
  }
  started_ = true;
  for (auto& r : reactors_) {
    threads_.emplace_back([p = r.get()] { p->run(); });
  }
  return true;
}

bool ServerImpl::start_on_host_loops(const std::vector<std::vector<ListenFd>>& fds,
                                     std::string* error) {
  for (unsigned i = 0; i < options.reactors; ++i) {
    reactors_.push_back(std::make_unique<Reactor>(this, static_cast<int>(i)));
  }
  size_t ready = 0;
  bool ok = true;
  for (; ready < reactors_.size() && ok; ready++) {
    options.run_on_loop(ready, [&] {
      Reactor& r = *reactors_[ready];
      ok = r.init(fds[ready], error);
      r.attach();
    });
  }
  if (!ok) {
    // Close what was set up, each on its loop's thread; the hosts' loops
    // finish the closes before the Server may be destroyed. The listening
    // sockets of the reactors never reached are closed here.
    for (size_t i = 0; i < ready; i++) {
      options.run_on_loop(i, [&] { reactors_[i]->close_now(); });
    }
    for (size_t i = ready; i < fds.size(); i++) {
      for (const ListenFd& l : fds[i]) {
        close(l.fd);
      }
    }
    return false;
  }
  started_ = true;
  return true;
}

void ServerImpl::notify_finished() {
  std::lock_guard<std::mutex> g(finished_mu_);
  finished_cv_.notify_all();
}

bool ServerImpl::claim_connection() {
  size_t n = open_connections_.load();
  while (n < options.limits.max_connections) {
    if (open_connections_.compare_exchange_weak(n, n + 1)) {
      return true;
    }
  }
  return false;
}

void ServerImpl::release_connection(Reactor* from) {
  open_connections_.fetch_sub(1);
  for (auto& r : reactors_) {
    if (r.get() != from) {
      r->request_accept_retry();
    }
  }
}

void ServerImpl::shutdown() {
  for (auto& r : reactors_) {
    r->request_shutdown();
  }
}

void ServerImpl::force_close() {
  for (auto& r : reactors_) {
    r->request_force_close();
  }
}

void ServerImpl::wait() {
  std::lock_guard<std::mutex> g(wait_mu_);
  if (!options.loops.empty()) {
    std::unique_lock<std::mutex> lock(finished_mu_);
    finished_cv_.wait(lock, [this] {
      return std::all_of(reactors_.begin(), reactors_.end(),
                         [](const std::unique_ptr<Reactor>& r) { return r->finished(); });
    });
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  log.flush();
}

ServerCounters ServerImpl::counters() const {
  ServerCounters out;
  for (const auto& r : reactors_) {
    for (int i = 0; i < static_cast<int>(Counter::kCount); ++i) {
      out.values[i] += r->counter(static_cast<Counter>(i));
    }
  }
  return out;
}

std::shared_ptr<const TlsContext> ServerImpl::tls() const {
  std::lock_guard<std::mutex> lock(tls_mu_);
  return tls_;
}

bool ServerImpl::reload_certificates(std::string* error) {
  if (options.certificates.empty()) {
    return true;
  }
  auto fresh = std::make_shared<TlsContext>();
  if (!fresh->init(options, error)) {
    return false;
  }
  std::lock_guard<std::mutex> lock(tls_mu_);
  tls_ = std::move(fresh);
  return true;
}

RequestDurations ServerImpl::durations() const {
  RequestDurations out;
  for (const auto& r : reactors_) {
    r->add_durations(&out);
  }
  return out;
}

}  // namespace net

// ---- Server -------------------------------------------------------------------

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<net::ServerImpl>(std::move(options), std::move(handler))) {}

Server::~Server() = default;

bool Server::start(std::string* error) {
  std::string ignored;
  return impl_->start(error != nullptr ? error : &ignored);
}

uint16_t Server::port(size_t i) const {
  return i < impl_->ports.size() ? impl_->ports[i] : 0;
}
void Server::shutdown() {
  impl_->shutdown();
}
void Server::force_close() {
  impl_->force_close();
}
void Server::wait() {
  impl_->wait();
}
void Server::stop() {
  impl_->shutdown();
  impl_->wait();
}
void Server::flush() {
  net::Reactor* r = net::Reactor::current();
  if (r != nullptr && r->server() == impl_.get()) {
    r->flush_point();
  }
}

ServerCounters Server::counters() const {
  return impl_->counters();
}

RequestDurations Server::durations() const {
  return impl_->durations();
}

std::string Server::metrics() const {
  net::MetricsText text;
  net::append_server_metrics(*this, text);
  net::append_process_metrics(text);
  return text.take();
}

bool Server::reload_certificates(std::string* error) {
  return impl_->reload_certificates(error);
}

bool Server::reopen_logs(std::string* error) {
  return impl_->log.reopen(error);
}

void Server::log(LogLevel level, std::string_view message) const {
  impl_->log.write(level, message);
}

const char* counter_name(Counter c) {
  static const char* kNames[] = {
      "connections_accepted",
      "connections_active",
      "connections_rejected",
      "tls_handshakes",
      "tls_handshake_failures",
      "tls_resumed",
      "requests_h1",
      "streams_h2",
      "streams_active",
      "bytes_in",
      "bytes_out",
      "responses_4xx",
      "responses_5xx",
      "protocol_errors",
      "timeouts_handshake",
      "timeouts_idle",
      "timeouts_header",
      "timeouts_body",
      "timeouts_write",
      "limit_url",
      "limit_headers",
      "limit_body",
      "client_resets",
      "floods_detected",
      "queue_full",
      "conn_slots_in_use",
      "conn_slots_high_water",
      "buffers_in_use",
      "buffer_bytes",
      "stream_slots_in_use",
      "stream_slots_high_water",
      "arena_bytes",
      "idle_memory_released",
  };
  static_assert(sizeof kNames / sizeof kNames[0] == static_cast<size_t>(Counter::kCount));
  int i = static_cast<int>(c);
  return i >= 0 && i < static_cast<int>(Counter::kCount) ? kNames[i] : "?";
}

// ---- Responder ----------------------------------------------------------------

namespace {

SendResult send(net::Reactor* r, net::Completion* c) {
  if (r == nullptr) {
    delete c;
    return SendResult::kInvalid;
  }
  return r->post(c);
}

}  // namespace

using K = net::Completion::Kind;

SendResult Responder::respond(int status, Headers headers, std::string body) const {
  return send(reactor_, new net::Completion{K::kRespond, stream_, status, std::move(headers),
                                            std::move(body), nullptr});
}

SendResult Responder::respond_shared(int status, std::shared_ptr<const SharedHeaders> headers,
                                     std::string body) const {
  auto* c = new net::Completion{K::kRespond, stream_, status, {}, std::move(body), nullptr};
  c->shared_headers = std::move(headers);
  return send(reactor_, c);
}

std::shared_ptr<const SharedHeaders> SharedHeaders::make(Headers headers, std::string* error) {
  for (Header& h : headers) {
    lower_in_place(h.name);
    if (std::string problem = net::header_problem(h); !problem.empty()) {
      *error = problem;
      return nullptr;
    }
  }
  return std::shared_ptr<const SharedHeaders>(new SharedHeaders(std::move(headers)));
}

SendResult Responder::start(int status, Headers headers, DrainCallback on_drained) const {
  return send(
      reactor_,
      new net::Completion{
          K::kStart, stream_, status, std::move(headers), {}, nullptr, std::move(on_drained)});
}

SendResult Responder::write(std::string chunk) const {
  return send(reactor_, new net::Completion{K::kWrite, stream_, 0, {}, std::move(chunk), nullptr});
}

SendResult Responder::end(Headers trailers) const {
  return send(reactor_, new net::Completion{K::kEnd, stream_, 0, std::move(trailers), {}, nullptr});
}

SendResult Responder::respond_with_source(int status, Headers headers,
                                          std::unique_ptr<BodySource> source) const {
  return send(
      reactor_,
      new net::Completion{K::kSource, stream_, status, std::move(headers), {}, std::move(source)});
}

SendResult Responder::consume_body(uint64_t n) const {
  auto* c = new net::Completion{K::kConsume, stream_, 0, {}, {}, nullptr};
  c->consumed = n;
  return send(reactor_, c);
}

SendResult Responder::reset() const {
  return send(reactor_, new net::Completion{K::kReset, stream_, 0, {}, {}, nullptr});
}

}  // namespace valk
