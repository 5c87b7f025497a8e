#pragma once
// The queue seam, failure side: where a delivery that cannot be stored goes,
// with the reason, so that nothing is lost. The file sink appends JSONL; the
// Redis dead-letter stream (queue issue) implements the same interface.

#include <cstdio>
#include <mutex>
#include <string>

namespace hm {

struct DeadLetter {
  std::string payload;  // the original delivery, byte for byte (or its first part when oversized)
  std::size_t size = 0; // the original size in bytes
  bool truncated = false;
  std::string reason;   // why it cannot be stored
  int attempts = 1;
  long long time_ms = 0;  // when it was dead-lettered, ms since epoch
  std::string origin;   // where it came from
};

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  // Must not return before the letter is durable. Throws std::runtime_error
  // when it cannot be written (the caller must then stop: it would lose data).
  virtual void put(const DeadLetter& letter) = 0;
};

// Appends one JSON object per line: {"time","reason","origin","attempts",
// "size","truncated","delivery"} where delivery is the original line as a
// string, or "delivery_base64" when the line is not valid UTF-8. Each write is
// flushed and fsync'ed. Thread-safe.
class FileDeadLetterSink final : public DeadLetterSink {
 public:
  explicit FileDeadLetterSink(std::string path);
  ~FileDeadLetterSink() override;
  FileDeadLetterSink(const FileDeadLetterSink&) = delete;
  FileDeadLetterSink& operator=(const FileDeadLetterSink&) = delete;
  void put(const DeadLetter& letter) override;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;  // guarded by mutex_; opened on first put
};

// The JSON line for a dead letter (no trailing newline).
std::string dead_letter_json(const DeadLetter& letter);
std::string base64_encode(const std::string& bytes);
bool is_valid_utf8(const std::string& s);
// s with every invalid UTF-8 sequence and control character (but tab) replaced
// by '?', for messages that quote input (a reason must always be printable).
std::string printable_utf8(const std::string& s);

}  // namespace hm
