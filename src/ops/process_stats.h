#pragma once
// What the kernel says about this process, read from /proc/self, for the
// standard Prometheus process metrics (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds, process_start_time_seconds).
//
// Thread-safety: a pure read of /proc; call from any thread.

#include <optional>
#include <string>

namespace hm {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system time
  double resident_bytes = 0;      // resident set size
  double open_fds = 0;            // entries in /proc/self/fd
  double start_time_seconds = 0;  // Unix time the process started
};

// Parses the text of /proc/<pid>/stat (fields after the command name, which
// may hold spaces and parentheses). ticks_per_second: sysconf(_SC_CLK_TCK);
// boot_time_s: /proc/stat's btime. Nullopt when the text is not a stat line.
std::optional<ProcessStats> parse_proc_stat(const std::string& stat, long ticks_per_second, long page_size,
                                            double boot_time_s);

// This process now; nullopt when /proc cannot be read (not Linux, no /proc).
std::optional<ProcessStats> read_process_stats();

}  // namespace hm
