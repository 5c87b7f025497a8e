// The batch path of MysqlMessageStore: several new messages in one
// transaction.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "mysql/guarded.h"
#include "mysql/message_steps.h"
#include "mysql/statements.h"

namespace hm::mysql {
namespace {

// Batch path: the rows of the multi-row insert, read back by their mids (the
// batch knows them; the UNIQUE key makes it one indexed read). A row of
// another transaction with one of these mids (committed while our INSERT
// IGNORE waited for its lock, so ours skipped it) must not be taken for ours.
// With innodb_autoinc_lock_mode 0 or 1 (MariaDB's default) a multi-row INSERT
// reserves one block of ids for itself, `n` values `auto_increment_increment`
// apart from LAST_INSERT_ID(), so the id range tells ours exactly. With mode 2
// (interleaved: MySQL 8's default, Galera) only `m.id >= LAST_INSERT_ID()`
// holds, and a newer row of another transaction makes the count check in
// store_batch() roll back and retry. That rollback is what concurrent batches
// must avoid: the locks other batches wait for on the rolled-back rows turn
// into gap locks, and two batches inserting into the same gap deadlock (1213)
// even with sorted keys (tests/integration/mysql/batch_locks_test.cpp).
// Built as text: the rows of the insert, then the mids. The third column says
// whether the row owes a deletion or edit recorded before it (as kOwesChanges
// in message_path.cpp; joins cost the server less than a hundred EXISTS
// subqueries). A row owing several edits comes back once per edit.
constexpr const char* kBatchInsertedSql =
    "SELECT m.id, m.ig_message_id, d.ig_message_id IS NOT NULL OR e.ig_message_id IS NOT NULL FROM message m "
    "LEFT JOIN message_deletion d ON d.ig_message_id = m.ig_message_id AND d.sender_id = m.sender_id "
    "AND m.is_deleted = 0 "
    "LEFT JOIN message_edit e ON e.ig_message_id = m.ig_message_id AND e.sender_id = m.sender_id "
    "AND e.num_edit > m.edit_count "
    "WHERE m.id >= LAST_INSERT_ID() "
    "AND (@@innodb_autoinc_lock_mode = 2 OR m.id < LAST_INSERT_ID() + ";
constexpr const char* kBatchInsertedSqlRest = " * @@auto_increment_increment) AND m.ig_message_id IN ";
// A batch on its way: the messages, their results so far, and which of them
// the fast-path check found stored.
struct Batch {
  explicit Batch(const std::vector<NewMessage>& messages)
      : ms(messages), out(messages.size()), found(messages.size(), false) {
    for (std::size_t i = 0; i < ms.size(); ++i) index.emplace(ms[i].mid, i);
  }
  const std::vector<NewMessage>& ms;
  std::vector<StoreResult> out;
  std::unordered_map<std::string, std::size_t> index;
  std::vector<bool> found;
};

// The new rows of the multi-row insert as read back: their ids and whether
// any owes a deletion or edit recorded before it.
struct NewRows {
  std::vector<std::uint64_t> ids;
  bool owes = false;
};

// The fast-path check for the whole batch: the messages stored already are
// kDuplicate with their id (and get what they owe applied). Returns the
// absent ones, sorted by mid.
std::vector<std::size_t> check_batch(Session& s, Batch& b) {
  std::vector<const std::string*> mids;
  mids.reserve(b.ms.size());
  for (const auto& m : b.ms) mids.push_back(&m.mid);
  for (const auto& [mid, f] : look_up_and_settle(s, mids, "batch fast-path check")) {
    auto it = b.index.find(mid);
    if (it == b.index.end()) continue;
    b.out[it->second].status = StoreStatus::kDuplicate;
    b.out[it->second].message_id = f.id;
    b.found[it->second] = true;
  }
  std::vector<std::size_t> absent;
  for (std::size_t i = 0; i < b.ms.size(); ++i)
    if (!b.found[i]) absent.push_back(i);
  std::sort(absent.begin(), absent.end(), [&](std::size_t x, std::size_t y) { return b.ms[x].mid < b.ms[y].mid; });
  return absent;
}

// One multi-row INSERT IGNORE of the absent messages; the rows inserted. A
// text statement of escaped literals: binding 14 parameters a row cost the
// worker a third of its CPU, and each row count was a prepared statement of
// its own, with its buffers, on both sides.
int insert_rows(Session& s, const Batch& b, const std::vector<std::size_t>& absent) {
  std::string sql = std::string("INSERT IGNORE INTO message ") + kMessageColumnList + " VALUES ";
  sql.reserve(sql.size() + absent.size() * 512);
  for (std::size_t k = 0; k < absent.size(); ++k) {
    if (k) sql += ", ";
    append_message_row(s, sql, b.ms[absent[k]]);
  }
  return insert_ignore_text(s, sql, "inserting a batch of messages");
}

// The new rows, and whether any owes a deletion or edit recorded before
// it (plain reads suffice, for the reason given at fast_path_sql() in
// message_path.cpp): each one found becomes kInserted with its id.
NewRows read_new_rows(Session& s, Batch& b, const std::vector<std::size_t>& absent) {
  std::string sql = kBatchInsertedSql + std::to_string(absent.size()) + kBatchInsertedSqlRest;
  std::vector<const std::string*> mids;
  mids.reserve(absent.size());
  for (std::size_t k : absent) mids.push_back(&b.ms[k].mid);
  append_literal_list(s, sql, mids);
  std::unique_ptr<sql::ResultSet> rs(
      guarded(s, "reading the new rows", [&] { return s.text_statement().executeQuery(sql); }));
  NewRows rows;
  guarded(s, "reading the new rows", [&] {
    while (rs->next()) {
      auto it = b.index.find(std::string(rs->getString(2)));
      if (it == b.index.end() || b.found[it->second]) continue;
      rows.owes = rows.owes || rs->getBoolean(3);
      if (b.out[it->second].status == StoreStatus::kInserted) continue;  // again, for another edit
      const std::uint64_t id = rs->getUInt64(1);
      b.out[it->second].status = StoreStatus::kInserted;
      b.out[it->second].message_id = id;
      rows.ids.push_back(id);
    }
  });
  return rows;
}

}  // namespace

// The batch path: one fast-path check for the whole batch, one multi-row
// INSERT IGNORE of the absent ones sorted by mid (every transaction takes the
// unique-key locks in the same order, so batches do not deadlock each other),
// one read of the new rows, one commit. Throws DbError; kPermanent means some
// row is bad (the caller falls back to one message at a time to find it).
std::vector<StoreResult> store_batch(Session& s, const std::vector<NewMessage>& ms) {
  Batch b(ms);
  const std::vector<std::size_t> absent = check_batch(s, b);
  if (absent.empty()) return std::move(b.out);

  s.begin();
  const int affected = insert_rows(s, b, absent);
  for (std::size_t i : absent) b.out[i].status = StoreStatus::kDuplicate;  // unless found below
  if (affected > 0) {
    const NewRows rows = read_new_rows(s, b, absent);
    if (rows.ids.size() != static_cast<std::size_t>(affected)) {
      throw DbError(DbErrorKind::kRetryable, 0,
                    "batch insert: " + std::to_string(affected) + " rows inserted but " +
                        std::to_string(rows.ids.size()) + " read back by mid; rolled back");
    }
    if (rows.owes) {
      for (const char* apply : {kApplyPendingEditSql, kApplyPendingDeletionSql}) {
        auto& up = s.prepare(std::string(apply) + "IN " + placeholders(rows.ids.size()));
        for (std::size_t k = 0; k < rows.ids.size(); ++k) up.setUInt64(static_cast<unsigned>(k + 1), rows.ids[k]);
        guarded(s, "applying earlier deletions and edits", [&] { return up.executeUpdate(); });
      }
    }
  }
  s.commit();
  return std::move(b.out);
}

}  // namespace hm::mysql
