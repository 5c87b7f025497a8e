#include "core/line_source.h"

#include <ios>
#include <string>

namespace hm {

LineSource::LineSource(std::istream& in, std::string name, std::size_t max_bytes)
    : in_(in), name_(std::move(name)), max_bytes_(max_bytes) {}

std::optional<SourcedDelivery> LineSource::next() {
  if (!status_.ok()) return std::nullopt;
  // libstdc++'s filebuf throws std::ios_base::failure on a read error (e.g.
  // EISDIR, EIO) from sbumpc(), without setting the stream's badbit.
  try {
    return read_next();
  } catch (const std::ios_base::failure& e) {
    status_ = Status::Retryable("reading " + name_ + " failed after line " + std::to_string(line_) + ": " + e.what());
    return std::nullopt;
  }
}

std::optional<SourcedDelivery> LineSource::read_next() {
  for (;;) {
    SourcedDelivery d;
    bool any = false;
    std::streambuf* buf = in_.rdbuf();
    for (;;) {
      const int c = buf->sbumpc();
      if (c == std::char_traits<char>::eof()) break;
      any = true;
      if (c == '\n') break;
      ++d.size;
      if (d.payload.size() < max_bytes_) {
        d.payload.push_back(static_cast<char>(c));
      } else {
        d.oversized = true;
      }
    }
    if (!any) {
      if (in_.bad()) status_ = Status::Retryable("reading " + name_ + " failed after line " + std::to_string(line_));
      return std::nullopt;
    }
    ++line_;
    if (!d.payload.empty() && d.payload.back() == '\r' && !d.oversized) {
      d.payload.pop_back();
      --d.size;
    }
    bool blank = !d.oversized;
    for (char ch : d.payload) {
      if (ch != ' ' && ch != '\t') {
        blank = false;
        break;
      }
    }
    if (blank) continue;
    d.origin = name_ + ":" + std::to_string(line_);
    return d;
  }
}

}  // namespace hm
