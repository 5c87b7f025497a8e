#pragma once
// Runs the hm-worker binary as a child process for process-level tests:
// environment given explicitly, output to files, signals on demand.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hm::test {

class ChildProcess {
 public:
  // Starts `binary args...` with the current environment plus `env`
  // (entries with an empty value are removed). Output goes to log files.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env, const std::string& name);
  ~ChildProcess();  // kills it if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Waits up to `limit`; the exit code, or nullopt if still running. A child
  // killed by a signal reports 128 + signal.
  std::optional<int> wait(std::chrono::milliseconds limit);
  bool running();
  std::string out() const;  // stdout so far
  std::string err() const;  // stderr so far

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

// A webhook delivery with one inbound text message, as one JSON line.
std::string text_delivery(const std::string& mid, const std::string& text, long long timestamp_ms = 1768396566941LL,
                          const std::string& sender = "1284930675412097");

// Polls `done` every 50 ms until it returns true or `limit` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit);

std::string source_dir();  // the repository root

struct HttpResult {
  int status = 0;  // 0 when no answer
  std::string body;
};
// GET http://127.0.0.1:port/path, with a 5 s limit.
HttpResult http_get(int port, const std::string& path);
// The same with another method (HEAD, POST...).
HttpResult http_request(int port, const std::string& method, const std::string& path);

// A TCP port on 127.0.0.1 the kernel reports free (bound to port 0, then
// released), for a child process that needs a fixed port.
int free_port();

}  // namespace hm::test
