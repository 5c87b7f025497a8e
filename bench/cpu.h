#pragma once
// CPU time of the processes a benchmark run involves, for "worker CPU
// microseconds per delivery" and the same for Redis and MariaDB: user +
// system time from /proc/PID/stat (workers, MariaDB) and from Redis's own
// INFO cpu (used_cpu_user + used_cpu_sys of the main process; children, i.e.
// AOF rewrites, reported apart).
#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace hm::bench {

// utime + stime of a process, seconds; 0 when it is gone.
inline double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  double utime = 0, stime = 0;
  // Fields after the name start at 3 (state); utime is 14, stime 15.
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stod(f);
    if (i == 15) stime = std::stod(f);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A field of an INFO reply ("used_cpu_user:1.234"), 0 when absent.
inline double info_field(const std::string& info, const std::string& name) {
  std::istringstream in(info);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return 0;
}

// The process id in a pid file, 0 when unreadable.
inline pid_t pid_from_file(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

}  // namespace hm::bench
