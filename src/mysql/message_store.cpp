#include "hm/mysql/message_store.h"

#include <cppconn/datatype.h>

#include <cstdio>
#include <ctime>

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

namespace mysql {
namespace {

constexpr const char* kFastPathSql = "SELECT id FROM message WHERE ig_message_id = ? LIMIT 1";
constexpr const char* kInsertMessageSql =
    "INSERT IGNORE INTO message (ig_message_id, account_id, sender_id, recipient_id, direction, kind, "
    "text, attachments, reply_to_mid, postback_payload, event_time) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kInsertedIdSql =
    "SELECT LAST_INSERT_ID(), "
    "EXISTS(SELECT 1 FROM message_deletion WHERE ig_message_id = ?), "
    "EXISTS(SELECT 1 FROM message_edit WHERE ig_message_id = ?)";
constexpr const char* kApplyPendingDeletionSql =
    "UPDATE message m JOIN message_deletion d "
    "ON d.ig_message_id = m.ig_message_id AND d.sender_id = m.sender_id "
    "SET m.is_deleted = 1, m.deleted_at = d.deleted_at WHERE m.id = ?";
constexpr const char* kApplyPendingEditSql =
    "UPDATE message m JOIN message_edit e "
    "ON e.ig_message_id = m.ig_message_id AND e.sender_id = m.sender_id "
    "SET m.text = e.text, m.edit_count = e.num_edit, m.edited_at = e.edited_at "
    "WHERE m.id = ? AND m.edit_count < e.num_edit "
    "AND e.num_edit = (SELECT MAX(x.num_edit) FROM message_edit x "
    "WHERE x.ig_message_id = e.ig_message_id AND x.sender_id = e.sender_id)";
constexpr const char* kInsertDeletionSql =
    "INSERT IGNORE INTO message_deletion (ig_message_id, account_id, sender_id, deleted_at) VALUES (?, ?, ?, ?)";
constexpr const char* kApplyDeletionSql =
    "UPDATE message SET is_deleted = 1, deleted_at = ? WHERE ig_message_id = ? AND sender_id = ? AND is_deleted = 0";
constexpr const char* kInsertEditSql =
    "INSERT IGNORE INTO message_edit (ig_message_id, num_edit, account_id, sender_id, text, edited_at) "
    "VALUES (?, ?, ?, ?, ?, ?)";
constexpr const char* kApplyEditSql =
    "UPDATE message SET text = ?, edit_count = ?, edited_at = ? "
    "WHERE ig_message_id = ? AND sender_id = ? AND edit_count < ?";
constexpr const char* kInsertReactionSql =
    "INSERT IGNORE INTO message_reaction (ig_message_id, sender_id, event_time, action, account_id, reaction, emoji) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kInsertReadSql =
    "INSERT IGNORE INTO message_read (account_id, reader_id, ig_message_id, read_at) VALUES (?, ?, ?, ?)";

void set_optional(sql::PreparedStatement& st, unsigned index, const std::optional<std::string>& v) {
  if (v) {
    st.setString(index, *v);
  } else {
    st.setNull(index, sql::DataType::VARCHAR);
  }
}

// Executes a prepared INSERT IGNORE and returns the rows inserted. INSERT
// IGNORE turns more than duplicates into warnings; only 1062 is accepted.
// Any other warning means a value was altered to fit: throws kPermanent (the
// caller rolls back, so nothing altered stays stored).
int insert_ignore(Session& s, sql::PreparedStatement& st, const char* what) {
  // Connector/C++ 1.1 keeps a statement's warnings across executions when the
  // next execution has none: clear them, or a clean insert after a bad one
  // would be reported with the bad one's warnings.
  s.guarded(what, [&] { st.clearWarnings(); });
  const int affected = s.guarded(what, [&] { return st.executeUpdate(); });
  const auto warnings = s.warnings(st);
  for (const auto& w : warnings) {
    if (w.code != 1062) {
      throw DbError(DbErrorKind::kPermanent, w.code,
                    std::string(what) + ": warning " + std::to_string(w.code) + ": " + w.message +
                        " (the row would be stored altered; rolled back)");
    }
  }
  return affected;
}

StoreResult failure(const DbError& e) {
  StoreResult r;
  r.status = e.retryable() ? StoreStatus::kRetryable : StoreStatus::kPermanent;
  r.error_code = e.code();
  r.error = e.what();
  return r;
}

StoreResult store_message(Session& s, const NewMessage& m) {
  // Fast path: autocommit consistent read, no locks taken.
  {
    auto& st = s.prepare(kFastPathSql);
    st.setString(1, m.mid);
    std::unique_ptr<sql::ResultSet> rs(s.guarded("fast-path check", [&] { return st.executeQuery(); }));
    const bool found = s.guarded("fast-path check", [&] { return rs->next(); });
    if (found) {
      StoreResult r;
      r.status = StoreStatus::kDuplicate;
      r.message_id = s.guarded("fast-path check", [&] { return static_cast<std::uint64_t>(rs->getUInt64(1)); });
      return r;
    }
  }
  s.begin();
  auto& ins = s.prepare(kInsertMessageSql);
  ins.setString(1, m.mid);
  ins.setString(2, m.account_id);
  ins.setString(3, m.sender_id);
  ins.setString(4, m.recipient_id);
  ins.setString(5, to_string(m.direction));
  ins.setString(6, to_string(m.kind));
  set_optional(ins, 7, m.text);
  set_optional(ins, 8, m.attachments_json);
  set_optional(ins, 9, m.reply_to_mid);
  set_optional(ins, 10, m.postback_payload);
  ins.setString(11, sql_datetime_ms(m.timestamp_ms));
  const int affected = insert_ignore(s, ins, "inserting the message");
  StoreResult r;
  if (affected == 0) {
    s.commit();  // nothing written; ends the transaction
    r.status = StoreStatus::kDuplicate;
    return r;
  }
  // A real insert: LAST_INSERT_ID() is ours. Deletions and edits that arrived
  // before the message are applied now, in the same transaction.
  auto& q = s.prepare(kInsertedIdSql);
  q.setString(1, m.mid);
  q.setString(2, m.mid);
  bool pending_deletion = false;
  bool pending_edit = false;
  {
    std::unique_ptr<sql::ResultSet> rs(s.guarded("reading the new id", [&] { return q.executeQuery(); }));
    s.guarded("reading the new id", [&] {
      rs->next();
      r.message_id = rs->getUInt64(1);
      pending_deletion = rs->getInt(2) != 0;
      pending_edit = rs->getInt(3) != 0;
    });
  }
  if (pending_edit) {
    auto& st = s.prepare(kApplyPendingEditSql);
    st.setUInt64(1, r.message_id);
    s.guarded("applying an earlier edit", [&] { return st.executeUpdate(); });
  }
  if (pending_deletion) {
    auto& st = s.prepare(kApplyPendingDeletionSql);
    st.setUInt64(1, r.message_id);
    s.guarded("applying an earlier deletion", [&] { return st.executeUpdate(); });
  }
  s.commit();
  r.status = StoreStatus::kInserted;
  return r;
}

StoreResult store_deletion(Session& s, const MessageDeletion& d) {
  const std::string when = sql_datetime_ms(d.timestamp_ms);
  s.begin();
  auto& ins = s.prepare(kInsertDeletionSql);
  ins.setString(1, d.mid);
  ins.setString(2, d.account_id);
  ins.setString(3, d.sender_id);
  ins.setString(4, when);
  insert_ignore(s, ins, "recording the deletion");
  auto& up = s.prepare(kApplyDeletionSql);
  up.setString(1, when);
  up.setString(2, d.mid);
  up.setString(3, d.sender_id);
  s.guarded("applying the deletion", [&] { return up.executeUpdate(); });
  s.commit();
  StoreResult r;
  r.status = StoreStatus::kApplied;
  return r;
}

StoreResult store_edit(Session& s, const MessageEdit& e) {
  const std::string when = sql_datetime_ms(e.timestamp_ms);
  s.begin();
  auto& ins = s.prepare(kInsertEditSql);
  ins.setString(1, e.mid);
  ins.setInt64(2, e.num_edit);
  ins.setString(3, e.account_id);
  ins.setString(4, e.sender_id);
  ins.setString(5, e.text);
  ins.setString(6, when);
  insert_ignore(s, ins, "recording the edit");
  auto& up = s.prepare(kApplyEditSql);
  up.setString(1, e.text);
  up.setInt64(2, e.num_edit);
  up.setString(3, when);
  up.setString(4, e.mid);
  up.setString(5, e.sender_id);
  up.setInt64(6, e.num_edit);
  s.guarded("applying the edit", [&] { return up.executeUpdate(); });
  s.commit();
  StoreResult r;
  r.status = StoreStatus::kApplied;
  return r;
}

StoreResult store_reaction(Session& s, const Reaction& re) {
  s.begin();
  auto& ins = s.prepare(kInsertReactionSql);
  ins.setString(1, re.mid);
  ins.setString(2, re.sender_id);
  ins.setString(3, sql_datetime_ms(re.timestamp_ms));
  ins.setString(4, re.action);
  ins.setString(5, re.account_id);
  ins.setString(6, re.reaction);
  ins.setString(7, re.emoji);
  insert_ignore(s, ins, "recording the reaction");
  s.commit();
  StoreResult r;
  r.status = StoreStatus::kApplied;
  return r;
}

StoreResult store_read(Session& s, const ReadReceipt& rr) {
  s.begin();
  auto& ins = s.prepare(kInsertReadSql);
  ins.setString(1, rr.account_id);
  ins.setString(2, rr.reader_id);
  ins.setString(3, rr.mid);
  ins.setString(4, sql_datetime_ms(rr.timestamp_ms));
  insert_ignore(s, ins, "recording the read receipt");
  s.commit();
  StoreResult r;
  r.status = StoreStatus::kApplied;
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

std::string sql_datetime_ms(std::int64_t epoch_ms) {
  const std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(epoch_ms % 1000));
  return buf;
}

StoreResult MysqlMessageStore::store(const Event& event) {
  if (std::holds_alternative<SkippedEvent>(event)) {
    StoreResult skipped;
    skipped.status = StoreStatus::kSkipped;
    return skipped;
  }
  SessionPool::Lease lease;
  try {
    lease = pool_.checkout();
  } catch (const DbError& e) {
    return failure(e);
  }
  try {
    return std::visit(Dispatch{*lease}, event);
  } catch (const DbError& e) {
    if (lease->in_transaction()) lease->rollback();
    if (e.connection_broken() || lease->broken()) lease.discard();
    return failure(e);
  } catch (const sql::SQLException& e) {
    // Every sql:: call should be guarded; this is the safety net.
    lease.discard();
    return failure(translate(e, lease->flavor(), "storing an event"));
  } catch (const std::exception& e) {
    lease.discard();
    return failure(DbError(DbErrorKind::kPermanent, 0, std::string("storing an event: ") + e.what()));
  }
}

}  // namespace mysql
}  // namespace hm
