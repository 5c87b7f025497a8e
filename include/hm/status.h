#pragma once
// The one error convention of the seams: a call that can fail returns a
// Status (or a Result<T>) whose category answers the only question a caller
// has to decide on, "can waiting fix this?". Every adapter maps its vendor
// codes (MySQL errors, Redis replies, HTTP and Graph answers) to a category in
// exactly one place; nothing throws across a seam.

#include <string>
#include <utility>

namespace hm {

enum class ErrorCategory {
  kNone,       // success
  kRetryable,  // the infrastructure was unwell (lock conflict, lost connection,
               // rate limit, server error): wait and try again; never a dead letter
  kPermanent,  // this input can never succeed (bad data, refused by the API):
               // dead-letter it or record the failure
  kUnknown,    // an action may or may not have happened (a send with no answer):
               // never repeat it
};

constexpr const char* to_string(ErrorCategory c) {
  switch (c) {
    case ErrorCategory::kNone: return "ok";
    case ErrorCategory::kRetryable: return "retryable";
    case ErrorCategory::kPermanent: return "permanent";
    case ErrorCategory::kUnknown: return "unknown";
  }
  return "unknown";
}

struct Status {
  ErrorCategory category = ErrorCategory::kNone;
  int code = 0;         // the vendor's code (MySQL error, HTTP status, Graph code); 0 if none
  std::string message;  // what went wrong, for logs and dead letters; never a secret

  bool ok() const { return category == ErrorCategory::kNone; }
  bool retryable() const { return category == ErrorCategory::kRetryable; }

  static Status Ok() { return {}; }
  static Status Retryable(std::string message, int code = 0) {
    return {ErrorCategory::kRetryable, code, std::move(message)};
  }
  static Status Permanent(std::string message, int code = 0) {
    return {ErrorCategory::kPermanent, code, std::move(message)};
  }
  static Status Unknown(std::string message, int code = 0) {
    return {ErrorCategory::kUnknown, code, std::move(message)};
  }
};

// A value or the Status saying why there is none.
template <class T>
struct Result {
  Status status;
  T value{};

  bool ok() const { return status.ok(); }
  static Result Of(T v) { return {Status::Ok(), std::move(v)}; }
  static Result Failed(Status s) { return {std::move(s), T{}}; }
};

}  // namespace hm
