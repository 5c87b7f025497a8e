#include "core/dead_letter_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/text.h"
#include "hm/clock.h"

namespace hm {

std::string dead_letter_json(const DeadLetter& l) {
  nlohmann::ordered_json j;
  if (!l.id.empty()) j["id"] = l.id;
  j["time"] = l.time_ms > 0 ? format_utc_ms(l.time_ms) : "";
  j["reason"] = printable_utf8(l.reason);
  j["origin"] = l.origin;
  if (!l.entry_id.empty()) j["entry_id"] = l.entry_id;
  j["attempts"] = l.attempts;
  j["size"] = l.size;
  j["truncated"] = l.truncated;
  if (is_valid_utf8(l.payload)) {
    j["delivery"] = l.payload;
  } else {
    j["delivery_base64"] = base64_encode(l.payload);
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

FileDeadLetterSink::FileDeadLetterSink(std::string path) : path_(std::move(path)) {}

FileDeadLetterSink::~FileDeadLetterSink() {
  if (file_) std::fclose(file_);
}

Status FileDeadLetterSink::put(const DeadLetter& letter) {
  const std::string line = dead_letter_json(letter) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  if (!file_) {
    file_ = std::fopen(path_.c_str(), "ab");
    if (!file_) return Status::Retryable("DEAD_LETTER_PATH: cannot open '" + path_ + "': " + std::strerror(errno));
  }
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0 ||
      ::fsync(::fileno(file_)) != 0) {
    return Status::Retryable("DEAD_LETTER_PATH: cannot write '" + path_ + "': " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace hm
