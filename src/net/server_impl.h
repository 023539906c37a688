// What a Server owns: options, handler, TLS contexts, logs, reactors.
#pragma once

#include <atomic>
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

  ServerOptions options;
  Handler handler;
  TlsContext tls;
  LogWriter log;
  std::vector<uint16_t> ports;

 private:
  bool bind_all(unsigned n, std::vector<std::vector<ListenFd>>* fds, std::string* error);
  std::vector<std::unique_ptr<Reactor>> reactors_;
  std::vector<std::thread> threads_;
  std::mutex wait_mu_;
  bool started_ = false;
};

}  // namespace valk::net
