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
// Thread-safety: store() may be called from many threads at once; each call
// leases its own connection. The calling thread must hold a
// mysql::Driver::ThreadScope.

#include <functional>
#include <optional>

#include "pool/connection_pool.h"
#include "hm/message_store.h"
#include "mysql/session.h"

namespace hm::mysql {

using SessionPool = ConnectionPool<Session>;

class MysqlMessageStore final : public MessageStore {
 public:
  explicit MysqlMessageStore(SessionPool& pool) : pool_(pool) {}
  StoreResult store(const Event& event) override;
  std::vector<StoreResult> store_messages(const std::vector<NewMessage>& messages,
                                          std::size_t per_transaction = 0) override;

 private:
  // Checks out a connection into `lease` when it holds none or a lost one;
  // the checkout's failure, if any.
  std::optional<StoreResult> connect(SessionPool::Lease& lease);
  // Each runs on `lease` after connect(); failures come back as results,
  // never thrown.
  StoreResult store_on(SessionPool::Lease& lease, const Event& event);
  StoreResult run_on(SessionPool::Lease& lease, const std::function<StoreResult(Session&)>& work);
  std::vector<StoreResult> store_each(SessionPool::Lease& lease, const std::vector<NewMessage>& messages);
  std::vector<StoreResult> store_together(SessionPool::Lease& lease, const std::vector<NewMessage>& messages);

  SessionPool& pool_;
};

// After a failed unit of work: rolls back an open transaction and marks a
// broken connection for discarding instead of pooling. Returns e.
const DbError& abandon(SessionPool::Lease& lease, const DbError& e);

// Executes a prepared INSERT IGNORE and returns the rows inserted. Only
// warning 1062 (duplicate) is accepted; any other warning means a value was
// altered to fit, and throws kPermanent (the caller rolls back).
int insert_ignore(Session& s, sql::PreparedStatement& st, const char* what);

// The two halves of insert_ignore(), for a caller that must act between them
// (the autocommit per-message insert removes a row found altered).
int execute_insert_ignore(Session& s, sql::PreparedStatement& st, const char* what);
void check_insert_warnings(Session& s, sql::PreparedStatement& st, const char* what, const char* aftermath);

// "YYYY-MM-DD HH:MM:SS.mmm" in UTC, for DATETIME(3) parameters.
std::string sql_datetime_ms(std::int64_t epoch_ms);

}  // namespace hm::mysql
