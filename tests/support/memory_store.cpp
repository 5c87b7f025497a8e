#include "support/memory_store.h"

#include <type_traits>

namespace hm::test {

void MemoryMessageStore::fail_next(std::vector<StoreResult> failures) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_.insert(failures_.end(), failures.begin(), failures.end());
}

StoreResult MemoryMessageStore::store(const Event& event) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++calls_;
  if (!failures_.empty()) {
    StoreResult r = failures_.front();
    failures_.pop_front();
    return r;
  }
  return std::visit(
      [&](const auto& e) -> StoreResult {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, NewMessage>) {
          return insert(e);
        } else if constexpr (std::is_same_v<T, MessageDeletion>) {
          const std::string sender = e.sender_id;
          return apply_change(e.mid, [sender](Row& r) {
            if (r.message.sender_id == sender) r.deleted = true;
          });
        } else if constexpr (std::is_same_v<T, MessageEdit>) {
          const MessageEdit edit = e;
          return apply_change(e.mid, [edit](Row& r) {
            if (edit.num_edit > r.num_edit && r.message.sender_id == edit.sender_id) {
              r.num_edit = edit.num_edit;
              r.edited_text = edit.text;
            }
          });
        } else if constexpr (std::is_same_v<T, Reaction>) {
          reactions_.insert({e.mid, e.sender_id, e.timestamp_ms, to_string(e.action)});
          StoreResult r;
          r.status = StoreStatus::kApplied;
          return r;
        } else if constexpr (std::is_same_v<T, ReadReceipt>) {
          reads_.insert({e.account_id, e.mid, e.reader_id});
          StoreResult r;
          r.status = StoreStatus::kApplied;
          return r;
        } else {
          StoreResult r;
          r.status = StoreStatus::kSkipped;
          return r;
        }
      },
      event);
}

StoreResult MemoryMessageStore::insert(const NewMessage& m) {
  StoreResult r;
  auto it = rows_.find(m.mid);
  if (it != rows_.end()) {
    r.status = StoreStatus::kDuplicate;
    r.message_id = it->second.id;
    return r;
  }
  Row row;
  row.id = next_id_++;
  row.message = m;
  if (auto p = pending_.find(m.mid); p != pending_.end()) {
    p->second(row);
    pending_.erase(p);
  }
  rows_.emplace(m.mid, row);
  r.status = StoreStatus::kInserted;
  r.message_id = row.id;
  return r;
}

StoreResult MemoryMessageStore::apply_change(const std::string& mid, const std::function<void(Row&)>& change) {
  if (auto it = rows_.find(mid); it != rows_.end()) {
    change(it->second);
  } else {
    // Kept until the message arrives; a second change of the same mid composes.
    auto& owed = pending_[mid];
    auto before = owed;
    owed = [before, change](Row& r) {
      if (before) before(r);
      change(r);
    };
  }
  StoreResult r;
  r.status = StoreStatus::kApplied;
  return r;
}

std::optional<MemoryMessageStore::Row> MemoryMessageStore::row(const std::string& mid) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = rows_.find(mid);
  if (it == rows_.end()) return std::nullopt;
  return it->second;
}

std::size_t MemoryMessageStore::rows() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rows_.size();
}

std::size_t MemoryMessageStore::reactions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reactions_.size();
}

std::size_t MemoryMessageStore::reads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reads_.size();
}

int MemoryMessageStore::calls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return calls_;
}

}  // namespace hm::test
