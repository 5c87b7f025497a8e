#pragma once
// Dead letters as JSON lines: the one shape both the file sink and
// `hm-worker dead-letters list` print:
//   {"id"?, "time", "reason", "origin", "entry_id"?, "attempts", "size",
//    "truncated", "delivery" | "delivery_base64"}
// where delivery is the original bytes as a string, or base64 when they are
// not valid UTF-8; id and entry_id are the dead-letter stream's entry and the
// original entry, present only for letters from a stream.

#include <cstdio>
#include <mutex>
#include <string>

#include "hm/dead_letter.h"

namespace hm {

// The JSON line for a dead letter (no trailing newline).
std::string dead_letter_json(const DeadLetter& letter);

// Appends one dead_letter_json() line per letter to a file; each write is
// flushed and fsync'ed before put() returns. Thread-safe.
class FileDeadLetterSink final : public DeadLetterSink {
 public:
  explicit FileDeadLetterSink(std::string path);
  ~FileDeadLetterSink() override;
  FileDeadLetterSink(const FileDeadLetterSink&) = delete;
  FileDeadLetterSink& operator=(const FileDeadLetterSink&) = delete;
  Status put(const DeadLetter& letter) override;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;  // guarded by mutex_; opened on first put
};

}  // namespace hm
