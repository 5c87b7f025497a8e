// The parts of the MessageStore seam that every store shares: chunking a
// read's messages into transactions, and the one-by-one default.
#include "hm/message_store.h"

#include <algorithm>
#include <optional>

namespace hm {

const char* to_string(StoreStatus s) {
  switch (s) {
    case StoreStatus::kInserted: return "inserted";
    case StoreStatus::kDuplicate: return "duplicate";
    case StoreStatus::kApplied: return "applied";
    case StoreStatus::kSkipped: return "skipped";
    case StoreStatus::kRetryable: return "retryable";
    case StoreStatus::kPermanent: return "permanent";
  }
  return "permanent";
}

namespace {
constexpr int kLockWaitTimeout = 1205;  // ER_LOCK_WAIT_TIMEOUT
}  // namespace

std::vector<StoreResult> store_in_chunks(
    std::size_t count, std::size_t per_transaction,
    const std::function<std::vector<StoreResult>(std::size_t from, std::size_t to)>& store_chunk) {
  const std::size_t chunk = per_transaction != 0 ? per_transaction : std::max<std::size_t>(count, 1);
  std::vector<StoreResult> out;
  out.reserve(count);
  std::optional<StoreResult> unreachable;
  int lock_waits = 0;
  for (std::size_t from = 0; from < count; from += chunk) {
    const std::size_t to = std::min(count, from + chunk);
    if (unreachable) {
      out.insert(out.end(), to - from, *unreachable);
      continue;
    }
    auto got = store_chunk(from, to);
    if (got.size() < to - from) {  // never expected: a store owes a result per message
      StoreResult missing;
      missing.status = StoreStatus::kRetryable;
      missing.error = "the store returned " + std::to_string(got.size()) + " results for " +
                      std::to_string(to - from) + " messages";
      got.resize(to - from, missing);
    }
    got.resize(to - from);
    for (auto& r : got) {
      const bool waited = r.status == StoreStatus::kRetryable && r.error_code == kLockWaitTimeout && ++lock_waits >= 2;
      if (!unreachable && r.status == StoreStatus::kRetryable && (!r.lock_conflict || waited)) {
        unreachable = r;
        if (waited) unreachable->error = "not tried after two lock wait timeouts in the same read: " + r.error;
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<StoreResult> MessageStore::store_messages(const std::vector<NewMessage>& messages, std::size_t) {
  return store_in_chunks(messages.size(), 1, [&](std::size_t from, std::size_t) {
    return std::vector<StoreResult>{store(messages[from])};
  });
}

}  // namespace hm
