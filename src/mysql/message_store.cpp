#include "mysql/message_store.h"

#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "mysql/guarded.h"
#include "mysql/message_steps.h"
#include "mysql/statements.h"

namespace hm {

namespace mysql {
namespace {

// A failed unit of work as a result: its status follows the error's category
// (errors.h), so result.category() == category(e).
StoreResult failure(const DbError& e) {
  StoreResult r;
  r.status = category(e) == ErrorCategory::kRetryable ? StoreStatus::kRetryable : StoreStatus::kPermanent;
  r.error_code = e.code();
  r.error = e.what();
  r.lock_conflict = lock_conflict(e.code());
  return r;
}

struct Dispatch {
  Session& s;
  StoreResult operator()(const NewMessage& m) const { return store_message(s, m); }
  StoreResult operator()(const MessageDeletion& d) const { return store_deletion(s, d); }
  StoreResult operator()(const MessageEdit& e) const { return store_edit(s, e); }
  StoreResult operator()(const Reaction& r) const { return store_reaction(s, r); }
  StoreResult operator()(const ReadReceipt& r) const { return store_read(s, r); }
  StoreResult operator()(const SkippedEvent&) const {
    StoreResult r;
    r.status = StoreStatus::kSkipped;
    return r;
  }
};

}  // namespace

StoreResult MysqlMessageStore::store(const Event& event) {
  if (std::holds_alternative<SkippedEvent>(event)) {
    StoreResult skipped;
    skipped.status = StoreStatus::kSkipped;
    return skipped;
  }
  SessionPool::Lease lease;
  return store_on(lease, event);
}

StoreResult MysqlMessageStore::store_on(SessionPool::Lease& lease, const Event& event) {
  return run_on(lease, [&](Session& s) { return std::visit(Dispatch{s}, event); });
}

std::optional<StoreResult> MysqlMessageStore::connect(SessionPool::Lease& lease) {
  if (lease && !lease.discarded() && !lease->broken()) return std::nullopt;
  // None yet, or an earlier unit lost it: give the lost one back before
  // asking for another, or this thread would hold two slots meanwhile.
  lease = SessionPool::Lease();
  try {
    lease = pool_.checkout();
  } catch (const DbError& e) {
    // Connecting is about the server, the network or the account, never
    // about the data: whatever the code, waiting may fix it.
    StoreResult r = failure(e);
    r.status = StoreStatus::kRetryable;
    return r;
  }
  if (const Status schema = schema_.check(*lease); !schema.ok()) {
    StoreResult r;
    r.status = StoreStatus::kRetryable;
    r.error_code = schema.code;
    r.error = "schema not ready: " + schema.message;
    return r;
  }
  return std::nullopt;
}

StoreResult MysqlMessageStore::failed(const DbError& e) {
  schema_.note(e.code());
  return failure(e);
}

StoreResult MysqlMessageStore::run_on(SessionPool::Lease& lease, const std::function<StoreResult(Session&)>& work) {
  if (auto failed = connect(lease)) return *failed;
  try {
    return work(*lease);
  } catch (const DbError& e) {
    return failed(abandon(lease, e));
  } catch (const sql::SQLException& e) {
    // Every sql:: call should be guarded; this is the safety net.
    lease.discard();
    return failed(translate(e, lease->flavor(), "storing an event"));
  } catch (const std::exception& e) {
    lease.discard();
    return failure(DbError(DbErrorKind::kPermanent, 0, std::string("storing an event: ") + e.what()));
  }
}

std::vector<StoreResult> MysqlMessageStore::store_messages(const std::vector<NewMessage>& messages,
                                                           std::size_t per_transaction) {
  if (messages.empty()) return {};
  SessionPool::Lease lease;
  if (messages.size() == 1) return {store_on(lease, messages.front())};  // the seed's path, LIMIT 1 check
  if (per_transaction == 1) return store_each(lease, messages);
  if (per_transaction == 0 || per_transaction >= messages.size()) return store_together(lease, messages);
  return store_in_chunks(messages.size(), per_transaction, [&](std::size_t from, std::size_t to) {
    return store_together(lease, std::vector<NewMessage>(messages.begin() + static_cast<long>(from),
                                                         messages.begin() + static_cast<long>(to)));
  });
}

// The per-message path for the messages of one read: one fast-path check of
// them all, then each absent one inserted on its own (an autocommit INSERT
// IGNORE, its own transaction and fsync), then the new rows read back (ids,
// changes owed) in one statement: one statement per new message and two per
// read, where checking and reading back each message alone takes three. A
// failed read-back leaves those messages retryable: they are stored, and
// their retry (or redelivery) finds them and applies whatever they owe.
std::vector<StoreResult> MysqlMessageStore::store_each(SessionPool::Lease& lease,
                                                       const std::vector<NewMessage>& messages) {
  std::vector<const std::string*> mids;
  mids.reserve(messages.size());
  for (const auto& m : messages) mids.push_back(&m.mid);
  // Runs look_up_and_settle() on the lease; a failure comes back as a result.
  auto settle = [&](std::unordered_map<std::string, Found>& found, const char* what) {
    return run_on(lease, [&](Session& s) {
      found = look_up_and_settle(s, mids, what);
      StoreResult ok;
      ok.status = StoreStatus::kApplied;
      return ok;
    });
  };
  std::unordered_map<std::string, Found> stored;
  const StoreResult check = settle(stored, "fast-path check");
  if (!check.ok()) return std::vector<StoreResult>(messages.size(), check);

  std::vector<std::size_t> inserted;
  auto out = store_in_chunks(messages.size(), 1, [&](std::size_t from, std::size_t) {
    StoreResult r;
    if (auto it = stored.find(messages[from].mid); it != stored.end()) {
      r.status = StoreStatus::kDuplicate;
      r.message_id = it->second.id;
    } else {
      r = run_on(lease, [&](Session& s) { return insert_absent(s, messages[from]); });
      if (r.status == StoreStatus::kInserted) inserted.push_back(from);
    }
    return std::vector<StoreResult>{r};
  });
  if (inserted.empty()) return out;
  mids.clear();
  for (std::size_t i : inserted) mids.push_back(&messages[i].mid);
  std::unordered_map<std::string, Found> found;
  const StoreResult read = settle(found, "reading the new rows");
  for (std::size_t i : inserted) {
    if (read.ok()) {
      auto it = found.find(messages[i].mid);
      if (it != found.end()) out[i].message_id = it->second.id;
    } else {
      out[i] = read;
      out[i].status = StoreStatus::kRetryable;
    }
  }
  return out;
}

// Several messages in one transaction (store_batch); when that fails on bad
// data, one at a time, so only the bad ones fail.
std::vector<StoreResult> MysqlMessageStore::store_together(SessionPool::Lease& lease,
                                                           const std::vector<NewMessage>& messages) {
  if (auto failed = connect(lease)) return std::vector<StoreResult>(messages.size(), *failed);
  try {
    return store_batch(*lease, messages);
  } catch (const DbError& e) {
    abandon(lease, e);
    if (e.retryable()) return std::vector<StoreResult>(messages.size(), failed(e));
    spdlog::debug("batch of {} failed ({}); storing one at a time", messages.size(), e.what());
  } catch (const std::exception& e) {
    lease.discard();
    return std::vector<StoreResult>(messages.size(),
                                    failure(DbError(DbErrorKind::kRetryable, 0, std::string("batch: ") + e.what())));
  }
  std::vector<StoreResult> out;
  out.reserve(messages.size());
  for (const auto& m : messages) out.push_back(store_on(lease, m));
  return out;
}

}  // namespace mysql
}  // namespace hm
