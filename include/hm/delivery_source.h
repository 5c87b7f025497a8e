#pragma once
// The queue seam, input side: where deliveries come from. The file source
// reads JSONL (one delivery per line) from a file or stdin; the Redis source
// (queue issue) implements the same interface.

#include <cstddef>
#include <istream>
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

// Reads JSONL from a stream. Lines longer than max_bytes are not held in
// memory: the first max_bytes are kept and the rest skipped. Blank lines are
// ignored. Not thread-safe.
class LineSource final : public DeliverySource {
 public:
  LineSource(std::istream& in, std::string name, std::size_t max_bytes);
  std::optional<SourcedDelivery> next() override;

 private:
  std::istream& in_;
  std::string name_;
  std::size_t max_bytes_;
  std::size_t line_ = 0;
};

}  // namespace hm
