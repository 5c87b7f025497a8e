#pragma once
// A TCP fault proxy for chaos tests: listens on an ephemeral loopback port and
// forwards each connection to a target host:port, with a mode switched at run
// time (thread-safe):
//   kPass      forward both ways;
//   kLatency   forward, sleeping latency() before each chunk;
//   kBlackhole accept new connections and never answer; stop forwarding on
//              existing ones (their bytes wait in the kernel buffers and flow
//              again when the mode returns to kPass);
//   kReset     close every connection with a RST (SO_LINGER 0) and reset new
//              ones at once.
// Plain POSIX sockets and threads, loopback only. Every thread wakes at least
// every 50 ms, so the destructor returns within a fraction of a second.

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace hm::test {

class FaultProxy {
 public:
  enum class Mode { kPass, kLatency, kBlackhole, kReset };

  // Listens on 127.0.0.1:0 (the kernel picks the port). Throws
  // std::runtime_error when the socket cannot be bound.
  FaultProxy(std::string target_host, int target_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  void set_mode(Mode mode);
  Mode mode() const { return mode_.load(); }
  void set_latency(std::chrono::milliseconds per_chunk);  // also sets kLatency
  std::chrono::milliseconds latency() const { return std::chrono::milliseconds(latency_ms_.load()); }

  int accepted() const { return accepted_.load(); }  // connections accepted so far
  int resets() const { return resets_.load(); }      // connections closed with a RST
  int open_connections();                            // client connections now open

 private:
  struct Conn;
  void accept_loop();
  void pump(const std::shared_ptr<Conn>& c);
  bool connect_upstream(Conn& c);
  void reap();

  std::string host_;
  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<Mode> mode_{Mode::kPass};
  std::atomic<long> latency_ms_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> resets_{0};
  std::mutex mutex_;
  std::list<std::shared_ptr<Conn>> conns_;
  std::thread acceptor_;
};

}  // namespace hm::test
