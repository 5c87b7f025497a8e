#pragma once
// DeliverySource over JSONL: one delivery per line, from a file or stdin.

#include <cstddef>
#include <istream>
#include <string>

#include "hm/delivery_source.h"

namespace hm {

// Reads JSONL from a stream. Lines longer than max_bytes are not held in
// memory: the first max_bytes are kept and the rest skipped. Blank lines are
// ignored. Not thread-safe.
class LineSource final : public DeliverySource {
 public:
  LineSource(std::istream& in, std::string name, std::size_t max_bytes);
  std::optional<SourcedDelivery> next() override;
  Status status() const override { return status_; }

 private:
  std::istream& in_;
  std::string name_;
  std::size_t max_bytes_;
  std::optional<SourcedDelivery> read_next();

  std::size_t line_ = 0;
  Status status_;
};

}  // namespace hm
