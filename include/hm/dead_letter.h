#pragma once
// The failure side of the queue seam: where a delivery that can never be
// stored goes, with the reason, so that nothing is lost. The file sink
// (src/core/dead_letter_file.h) appends JSON lines; the Redis dead-letter
// stream keeps the same fields.

#include <cstddef>
#include <string>

#include "hm/status.h"

namespace hm {

struct DeadLetter {
  std::string payload;  // the original delivery, byte for byte (or its first part when oversized)
  std::size_t size = 0; // the original size in bytes
  bool truncated = false;
  std::string reason;   // why it cannot be stored
  int attempts = 1;
  long long time_ms = 0;  // when it was dead-lettered, ms since epoch
  std::string origin;   // where it came from (file:PATH:LINE, or the stream)
  std::string id;       // the dead-letter stream's entry id; empty for a file
  std::string entry_id; // the original stream entry's id; empty for a file
};

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  // Returns only once the letter is durable, or a failed Status when it
  // cannot be written (the caller must then stop: it would lose data).
  virtual Status put(const DeadLetter& letter) = 0;
};

}  // namespace hm
