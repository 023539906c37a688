// What a Server owns: options, handler, TLS contexts, logs, reactors.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "net/log.h"
#include "net/reactor.h"
#include "net/tls.h"
#include "valk/server.h"

namespace valk::net {

class ServerImpl {
 public:
  ServerImpl(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}
  ~ServerImpl();
  bool start(std::string* error);
  void shutdown();
  void force_close();
  void wait();
  ServerCounters counters() const;
  RequestDurations durations() const;
  // A reactor on a host's loop has closed everything. Its thread.
  void notify_finished();
  // limits.max_connections counts the connections of all the reactors,
  // wherever the kernel puts them. claim_connection() takes a place (false
  // at the limit); release_connection() gives one back and has the reactors
  // with accepts waiting try them again. Any reactor's thread.
  bool claim_connection();
  void release_connection(Reactor* from);

  // The certificates new TLS connections get; reload_certificates()
  // replaces them whole. Any thread.
  std::shared_ptr<const TlsContext> tls() const;
  bool reload_certificates(std::string* error);

  ServerOptions options;
  Handler handler;
  LogWriter log;
  std::vector<uint16_t> ports;

 private:
  bool bind_all(unsigned n, std::vector<std::vector<ListenFd>>* fds, std::string* error);
  // start()'s last step with ServerOptions::loops: each reactor set up on
  // its loop's thread.
  bool start_on_host_loops(const std::vector<std::vector<ListenFd>>& fds, std::string* error);
  mutable std::mutex tls_mu_;
  std::shared_ptr<const TlsContext> tls_;
  std::vector<std::unique_ptr<Reactor>> reactors_;
  std::atomic<size_t> open_connections_{0};
  std::vector<std::thread> threads_;
  std::mutex wait_mu_;
  std::mutex finished_mu_;
  std::condition_variable finished_cv_;
  bool started_ = false;
};

}  // namespace valk::net
