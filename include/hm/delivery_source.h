#pragma once
// The input seam of one-shot runs: where deliveries come from. The file
// source (src/core/line_source.h) reads JSONL, one delivery per line, from a
// file or stdin.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "hm/status.h"

namespace hm {

struct SourcedDelivery {
  std::string payload;     // the line, without its newline; cut at the size limit when oversized
  std::size_t size = 0;    // the full size in bytes
  bool oversized = false;  // size > the source's limit; payload holds only the first part
  std::string origin;      // where it came from, e.g. "file:in.jsonl:12"
};

class DeliverySource {
 public:
  virtual ~DeliverySource() = default;
  // The next delivery, or nullopt at the end or after a read error. Never throws.
  virtual std::optional<SourcedDelivery> next() = 0;
  // After next() returned nullopt: Ok at the end of the input, otherwise the
  // read error (kRetryable: the input may be read again).
  virtual Status status() const { return Status::Ok(); }
};

}  // namespace hm
