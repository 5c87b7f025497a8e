#pragma once
// The input seam of one-shot runs: where deliveries come from. The file
// source (src/core/line_source.h) reads JSONL, one delivery per line, from a
// file or stdin.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

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
  // The next delivery, or nullopt at the end. Throws std::runtime_error on a read error.
  virtual std::optional<SourcedDelivery> next() = 0;
};

}  // namespace hm
