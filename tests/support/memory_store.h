#pragma once
// An in-memory MessageStore with the idempotency of the MySQL store's keys,
// for unit tests of the logic above the seam: one row per mid (case-sensitive,
// as the binary UNIQUE key), ids from an auto-increment, a deletion (by the
// message's sender) or an edit (only a higher num_edit wins) that arrives
// before its message is kept and applied when the message comes, reactions
// once per (mid, sender, time, action) and reads once per (account, mid,
// reader). Failures can be injected. Thread-safe.

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "hm/message_store.h"

namespace hm::test {

class MemoryMessageStore final : public MessageStore {
 public:
  struct Row {
    std::uint64_t id = 0;
    NewMessage message;
    bool deleted = false;
    std::optional<std::string> edited_text;
    std::int64_t num_edit = 0;
  };

  StoreResult store(const Event& event) override;

  // The next calls fail with these results (before touching anything).
  void fail_next(std::vector<StoreResult> failures);

  std::optional<Row> row(const std::string& mid) const;
  std::size_t rows() const;
  std::size_t reactions() const;
  std::size_t reads() const;
  int calls() const;

 private:
  StoreResult insert(const NewMessage& m);
  StoreResult apply_change(const std::string& mid, const std::function<void(Row&)>& change);

  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::map<std::string, Row> rows_;  // by mid; guarded by mutex_
  std::map<std::string, std::function<void(Row&)>> pending_;  // changes owed to absent mids
  std::set<std::tuple<std::string, std::string, std::int64_t, std::string>> reactions_;  // (mid, sender, time, action)
  std::set<std::tuple<std::string, std::string, std::string>> reads_;                    // (account, mid, reader)
  std::deque<StoreResult> failures_;
  int calls_ = 0;
};

}  // namespace hm::test
