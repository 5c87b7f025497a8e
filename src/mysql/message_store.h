#pragma once
// MessageStore on MySQL/MariaDB, through the bounded pool.
//
// New messages follow the seed's path exactly: a `SELECT id ... LIMIT 1`
// fast-path check outside any transaction (no locks), then, if absent, one
// atomic `INSERT IGNORE` on the UNIQUE ig_message_id, in a transaction.
// Affected rows decide inserted versus duplicate; the new id comes from
// LAST_INSERT_ID() only after a real insert. Only warning 1062 means
// duplicate: any other warning (truncation, bad string value, NULL) rolls the
// transaction back and the result is kPermanent, so no row stays stored altered.
//
// Connection and schema faults are never permanent: a checkout that fails
// (whatever the error: a rotated password, max_user_connections, a full pool)
// is kRetryable, and while check_schema() fails (a worker started before
// `migrate`, a missing grant) every call stores nothing and answers
// kRetryable with the reason, until the schema is there (SchemaGate).
//
// Thread-safety: store() may be called from many threads at once; each call
// leases its own connection. The calling thread must hold a
// mysql::Driver::ThreadScope.

#include <functional>
#include <optional>

#include "hm/message_store.h"
#include "mysql/schema.h"
#include "mysql/session_pool.h"

namespace hm::mysql {

class MysqlMessageStore final : public MessageStore {
 public:
  explicit MysqlMessageStore(SessionPool& pool) : pool_(pool) {}
  StoreResult store(const Event& event) override;
  std::vector<StoreResult> store_messages(const std::vector<NewMessage>& messages,
                                          std::size_t per_transaction = 0) override;

 private:
  // Checks out a connection into `lease` when it holds none or a lost one
  // (returning the lost one first: a thread never holds two slots), and
  // checks the schema; the failure, if any, is always kRetryable.
  std::optional<StoreResult> connect(SessionPool::Lease& lease);
  // Each runs on `lease` after connect(); failures come back as results,
  // never thrown.
  StoreResult store_on(SessionPool::Lease& lease, const Event& event);
  StoreResult run_on(SessionPool::Lease& lease, const std::function<StoreResult(Session&)>& work);
  std::vector<StoreResult> store_each(SessionPool::Lease& lease, const std::vector<NewMessage>& messages);
  std::vector<StoreResult> store_together(SessionPool::Lease& lease, const std::vector<NewMessage>& messages);

  // A failed unit's result; notes schema errors on the gate.
  StoreResult failed(const DbError& e);

  SessionPool& pool_;
  SchemaGate schema_;
};

}  // namespace hm::mysql
