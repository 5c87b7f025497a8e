#include "mysql/message_store.h"

#include <cppconn/datatype.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "hm/dead_letter.h"
#include "mysql/guarded.h"
#include "mysql/statements.h"

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

// Whether a stored message m still owes a deletion or an edit recorded before
// it arrived (the recording side found no message to update at the time).
constexpr const char* kOwesChanges =
    "((m.is_deleted = 0 AND EXISTS (SELECT 1 FROM message_deletion d "
    "WHERE d.ig_message_id = m.ig_message_id AND d.sender_id = m.sender_id)) "
    "OR EXISTS (SELECT 1 FROM message_edit e WHERE e.ig_message_id = m.ig_message_id "
    "AND e.sender_id = m.sender_id AND e.num_edit > m.edit_count))";

// The fast-path check: one autocommit consistent read, no locks. It also says
// whether the message owes changes recorded before it, so the same statement
// serves right after an insert (to find the new row's id) and on a
// redelivery (which repairs a message whose changes were left unapplied by a
// failure between its insert and their application).
//
// Why plain reads are enough: a deletion or edit is committed in its side
// table first and only then applied to the message (store_deletion,
// store_edit), while a message is inserted first and only then read back here.
// Whichever of the two reads comes second sees the other's write: the message
// row, if still uncommitted, makes the UPDATE wait for it (a unique-key search
// waits for a locked row, it never skips it), and a committed side-table row
// is visible to any later statement under READ COMMITTED. Applying twice is
// harmless.
const std::string& fast_path_sql() {
  static const std::string sql =
      std::string("SELECT m.id, ") + kOwesChanges + " FROM message m WHERE m.ig_message_id = ? LIMIT 1";
  return sql;
}
constexpr const char* kInsertMessageSql =
    "INSERT IGNORE INTO message (ig_message_id, account_id, sender_id, recipient_id, direction, kind, "
    "text, attachments, reply_to_mid, postback_payload, event_time, customer_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
// The per-message insert commits on its own; a row that a warning shows
// altered is taken out again at once.
constexpr const char* kDeleteAlteredSql = "DELETE FROM message WHERE id = LAST_INSERT_ID()";
// Batch path: rows of the multi-row insert are ours when their id lies in the
// block of LAST_INSERT_ID() .. + rows - 1 (InnoDB reserves a simple insert's
// auto-increment values at once); the mid check guards against anything else.
// The third column says whether the row owes a deletion or edit recorded
// before it (as in kOwesChanges; joins cost the server less than a hundred
// EXISTS subqueries). A row owing several edits comes back once per edit.
constexpr const char* kBatchInsertedSql =
    "SELECT m.id, m.ig_message_id, d.ig_message_id IS NOT NULL OR e.ig_message_id IS NOT NULL FROM message m "
    "LEFT JOIN message_deletion d ON d.ig_message_id = m.ig_message_id AND d.sender_id = m.sender_id "
    "AND m.is_deleted = 0 "
    "LEFT JOIN message_edit e ON e.ig_message_id = m.ig_message_id AND e.sender_id = m.sender_id "
    "AND e.num_edit > m.edit_count "
    "WHERE m.id >= LAST_INSERT_ID() AND m.id < LAST_INSERT_ID() + ?";
constexpr const char* kBatchApplyPendingDeletionSql =
    "UPDATE message m JOIN message_deletion d "
    "ON d.ig_message_id = m.ig_message_id AND d.sender_id = m.sender_id "
    "SET m.is_deleted = 1, m.deleted_at = d.deleted_at WHERE m.id BETWEEN ? AND ?";
constexpr const char* kBatchApplyPendingEditSql =
    "UPDATE message m JOIN message_edit e "
    "ON e.ig_message_id = m.ig_message_id AND e.sender_id = m.sender_id "
    "SET m.text = e.text, m.edit_count = e.num_edit, m.edited_at = e.edited_at "
    "WHERE m.id BETWEEN ? AND ? AND m.edit_count < e.num_edit "
    "AND e.num_edit = (SELECT MAX(x.num_edit) FROM message_edit x "
    "WHERE x.ig_message_id = e.ig_message_id AND x.sender_id = e.sender_id)";
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

constexpr unsigned kMessageColumns = 12;
constexpr const char* kMessageColumnList =
    "(ig_message_id, account_id, sender_id, recipient_id, direction, kind, text, attachments, reply_to_mid, "
    "postback_payload, event_time, customer_id)";

// Binds one message's columns, in kMessageColumnList order, at row `row` of a
// (multi-row) INSERT.
void bind_message(sql::PreparedStatement& st, unsigned row, const NewMessage& m) {
  const unsigned b = row * kMessageColumns;
  st.setString(b + 1, m.mid);
  st.setString(b + 2, m.account_id);
  st.setString(b + 3, m.sender_id);
  st.setString(b + 4, m.recipient_id);
  st.setString(b + 5, to_string(m.direction));
  st.setString(b + 6, to_string(m.kind));
  set_optional(st, b + 7, m.text);
  set_optional(st, b + 8, m.attachments_json);
  set_optional(st, b + 9, m.reply_to_mid);
  set_optional(st, b + 10, m.postback_payload);
  st.setString(b + 11, sql_datetime_ms(m.timestamp_ms));
  st.setString(b + 12, m.direction == Direction::kEcho ? m.recipient_id : m.sender_id);
}

std::string placeholders(std::size_t n) {
  std::string out = "(";
  for (std::size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out + ")";
}

StoreResult failure(const DbError& e) {
  StoreResult r;
  r.status = e.retryable() ? StoreStatus::kRetryable : StoreStatus::kPermanent;
  r.error_code = e.code();
  r.error = e.what();
  r.lock_conflict = lock_conflict(e.code());
  return r;
}

struct Found {
  std::uint64_t id = 0;
  bool owes_changes = false;  // a deletion or edit recorded before it is not applied yet
};

std::optional<Found> look_up(Session& s, const std::string& mid, const char* what) {
  auto& st = s.prepare(fast_path_sql());
  st.setString(1, mid);
  std::unique_ptr<sql::ResultSet> rs(guarded(s, what, [&] { return st.executeQuery(); }));
  return guarded(s, what, [&]() -> std::optional<Found> {
    if (!rs->next()) return std::nullopt;
    return Found{static_cast<std::uint64_t>(rs->getUInt64(1)), rs->getBoolean(2)};
  });
}

// Applies the deletion and the latest edit recorded for message `id` before it
// arrived. Idempotent; each statement commits on its own when no transaction
// is open.
void apply_owed_changes(Session& s, std::uint64_t id) {
  auto& edit = s.prepare(kApplyPendingEditSql);
  edit.setUInt64(1, id);
  guarded(s, "applying an earlier edit", [&] { return edit.executeUpdate(); });
  auto& deletion = s.prepare(kApplyPendingDeletionSql);
  deletion.setUInt64(1, id);
  guarded(s, "applying an earlier deletion", [&] { return deletion.executeUpdate(); });
}

// Whether a column's limit or character set could make INSERT IGNORE alter
// this message to fit (it then warns, see insert_ignore()). The parser already
// refuses most of these; the store does not rely on it.
bool may_be_altered(const NewMessage& m) {
  auto ascii_over = [](const std::string& v, std::size_t limit) {
    return v.size() > limit || std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) > 0x7f; });
  };
  auto utf8_over = [](const std::optional<std::string>& v, std::size_t limit) {
    return v && (v->size() > limit || !is_valid_utf8(*v));
  };
  return ascii_over(m.mid, 255) || ascii_over(m.account_id, 64) || ascii_over(m.sender_id, 64) ||
         ascii_over(m.recipient_id, 64) || (m.reply_to_mid && ascii_over(*m.reply_to_mid, 255)) ||
         utf8_over(m.text, 65535) || utf8_over(m.postback_payload, 1000) || utf8_over(m.attachments_json, 16777215);
}

// The per-message insert, for a message the fast-path check did not find: an
// INSERT IGNORE that commits on its own (one statement, one fsync). A message that could be
// altered to fit is inserted in a transaction instead, so it is rolled back
// unseen. A new message comes back kInserted without its id: the caller reads
// it back with look_up() or look_up_and_settle(), which also apply any changes
// recorded before the message.
StoreResult insert_absent(Session& s, const NewMessage& m) {
  StoreResult r;
  const bool in_transaction = may_be_altered(m);
  if (in_transaction) s.begin();
  auto& ins = s.prepare(kInsertMessageSql);
  bind_message(ins, 0, m);
  const int affected = execute_insert_ignore(s, ins, "inserting the message");
  try {
    check_insert_warnings(s, ins, "inserting the message",
                          in_transaction ? "the row would be stored altered; rolled back" : "the altered row was removed");
  } catch (const DbError&) {
    if (!in_transaction && affected > 0) {  // committed already: take it out again
      auto& del = s.prepare(kDeleteAlteredSql);
      guarded(s, "removing an altered row", [&] { return del.executeUpdate(); });
    }
    throw;  // the caller rolls back an open transaction
  }
  if (in_transaction) s.commit();
  // Zero rows: another worker stored it since the check.
  r.status = affected > 0 ? StoreStatus::kInserted : StoreStatus::kDuplicate;
  return r;
}

// The fast-path check, then insert_absent() if the message is not there yet;
// a message found that still owes changes gets them applied.
StoreResult insert_message(Session& s, const NewMessage& m) {
  if (const auto found = look_up(s, m.mid, "fast-path check")) {
    if (found->owes_changes) apply_owed_changes(s, found->id);
    StoreResult r;
    r.status = StoreStatus::kDuplicate;
    r.message_id = found->id;
    return r;
  }
  return insert_absent(s, m);
}

// One message on its own: three statements when new (check, insert, read
// back), one for a redelivery.
StoreResult store_message(Session& s, const NewMessage& m) {
  StoreResult r = insert_message(s, m);
  if (r.status == StoreStatus::kInserted) {
    if (const auto found = look_up(s, m.mid, "reading the new row")) {
      r.message_id = found->id;
      if (found->owes_changes) apply_owed_changes(s, found->id);
    }
  }
  return r;
}

// The fast-path check of several mids in one statement: what is stored of
// them, by mid. The IN list is rounded up to a power of two (padded with the
// last mid) so a handful of prepared statements serve every count.
std::unordered_map<std::string, Found> look_up_all(Session& s, const std::vector<const std::string*>& mids,
                                                   const char* what) {
  std::unordered_map<std::string, Found> found;
  if (mids.empty()) return found;
  std::size_t bucket = 1;
  while (bucket < mids.size()) bucket *= 2;
  auto& st = s.prepare(std::string("SELECT m.ig_message_id, m.id, ") + kOwesChanges +
                       " FROM message m WHERE m.ig_message_id IN " + placeholders(bucket));
  for (std::size_t i = 0; i < bucket; ++i) st.setString(static_cast<unsigned>(i + 1), *mids[std::min(i, mids.size() - 1)]);
  std::unique_ptr<sql::ResultSet> rs(guarded(s, what, [&] { return st.executeQuery(); }));
  guarded(s, what, [&] {
    while (rs->next()) found[std::string(rs->getString(1))] = Found{rs->getUInt64(2), rs->getBoolean(3)};
    st.clearParameters();
  });
  return found;
}

// look_up_all(), then applies whatever the messages found still owe (rare:
// a change recorded before its message, or a repair after a failed read-back).
std::unordered_map<std::string, Found> look_up_and_settle(Session& s, const std::vector<const std::string*>& mids,
                                                          const char* what) {
  auto found = look_up_all(s, mids, what);
  for (const auto& [mid, f] : found)
    if (f.owes_changes) apply_owed_changes(s, f.id);
  return found;
}

// A deletion or an edit: recorded in its side table and committed first, then
// applied to the message if it is there (see fast_path_sql() for why this
// order never misses a message stored at the same moment).
StoreResult store_deletion(Session& s, const MessageDeletion& d) {
  const std::string when = sql_datetime_ms(d.timestamp_ms);
  s.begin();
  auto& ins = s.prepare(kInsertDeletionSql);
  ins.setString(1, d.mid);
  ins.setString(2, d.account_id);
  ins.setString(3, d.sender_id);
  ins.setString(4, when);
  insert_ignore(s, ins, "recording the deletion");
  s.commit();
  auto& up = s.prepare(kApplyDeletionSql);
  up.setString(1, when);
  up.setString(2, d.mid);
  up.setString(3, d.sender_id);
  guarded(s, "applying the deletion", [&] { return up.executeUpdate(); });
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
  s.commit();
  auto& up = s.prepare(kApplyEditSql);
  up.setString(1, e.text);
  up.setInt64(2, e.num_edit);
  up.setString(3, when);
  up.setString(4, e.mid);
  up.setString(5, e.sender_id);
  up.setInt64(6, e.num_edit);
  guarded(s, "applying the edit", [&] { return up.executeUpdate(); });
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

// The batch path: one fast-path check for the whole batch, one multi-row
// INSERT IGNORE of the absent ones sorted by mid (every transaction takes the
// unique-key locks in the same order, so batches do not deadlock each other),
// one read of the new rows, one commit. Throws DbError; kPermanent means some
// row is bad (the caller falls back to one message at a time to find it).
std::vector<StoreResult> store_batch(Session& s, const std::vector<NewMessage>& ms) {
  std::vector<StoreResult> out(ms.size());
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < ms.size(); ++i) index.emplace(ms[i].mid, i);
  std::vector<bool> found(ms.size(), false);
  {
    std::vector<const std::string*> mids;
    mids.reserve(ms.size());
    for (const auto& m : ms) mids.push_back(&m.mid);
    for (const auto& [mid, f] : look_up_and_settle(s, mids, "batch fast-path check")) {
      auto it = index.find(mid);
      if (it == index.end()) continue;
      out[it->second].status = StoreStatus::kDuplicate;
      out[it->second].message_id = f.id;
      found[it->second] = true;
    }
  }
  std::vector<std::size_t> absent;
  for (std::size_t i = 0; i < ms.size(); ++i)
    if (!found[i]) absent.push_back(i);
  if (absent.empty()) return out;
  std::sort(absent.begin(), absent.end(), [&](std::size_t a, std::size_t b) { return ms[a].mid < ms[b].mid; });

  s.begin();
  std::string sql = std::string("INSERT IGNORE INTO message ") + kMessageColumnList + " VALUES ";
  const std::string row = placeholders(kMessageColumns);
  for (std::size_t k = 0; k < absent.size(); ++k) sql += (k ? ", " : "") + row;
  auto& ins = s.prepare(sql);
  for (std::size_t k = 0; k < absent.size(); ++k) bind_message(ins, static_cast<unsigned>(k), ms[absent[k]]);
  const int affected = insert_ignore(s, ins, "inserting a batch of messages");
  for (std::size_t i : absent) out[i].status = StoreStatus::kDuplicate;  // unless found below
  if (affected > 0) {
    // The new rows, and whether any owes a deletion or edit recorded before
    // it (plain reads suffice, for the reason given at fast_path_sql()).
    auto& q = s.prepare(kBatchInsertedSql);
    q.setUInt64(1, absent.size());
    std::unique_ptr<sql::ResultSet> rs(guarded(s, "reading the new rows", [&] { return q.executeQuery(); }));
    std::uint64_t lo = UINT64_MAX;
    std::uint64_t hi = 0;
    int ours = 0;
    bool owes = false;
    guarded(s, "reading the new rows", [&] {
      while (rs->next()) {
        auto it = index.find(std::string(rs->getString(2)));
        if (it == index.end() || found[it->second]) continue;
        owes = owes || rs->getBoolean(3);
        if (out[it->second].status == StoreStatus::kInserted) continue;  // again, for another edit
        const std::uint64_t id = rs->getUInt64(1);
        out[it->second].status = StoreStatus::kInserted;
        out[it->second].message_id = id;
        lo = std::min(lo, id);
        hi = std::max(hi, id);
        ++ours;
      }
    });
    rs.reset();
    if (ours != affected) {
      throw DbError(DbErrorKind::kRetryable, 0,
                    "batch insert: " + std::to_string(affected) + " rows inserted but " + std::to_string(ours) +
                        " found in the LAST_INSERT_ID() block; rolled back");
    }
    if (owes) {
      for (const char* apply : {kBatchApplyPendingEditSql, kBatchApplyPendingDeletionSql}) {
        auto& up = s.prepare(apply);
        up.setUInt64(1, lo);
        up.setUInt64(2, hi);
        guarded(s, "applying earlier deletions and edits", [&] { return up.executeUpdate(); });
      }
    }
  }
  s.commit();
  return out;
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
  try {  // none yet, or an earlier unit lost it
    lease = pool_.checkout();
  } catch (const DbError& e) {
    return failure(e);
  }
  return std::nullopt;
}

StoreResult MysqlMessageStore::run_on(SessionPool::Lease& lease, const std::function<StoreResult(Session&)>& work) {
  if (auto failed = connect(lease)) return *failed;
  try {
    return work(*lease);
  } catch (const DbError& e) {
    return failure(abandon(lease, e));
  } catch (const sql::SQLException& e) {
    // Every sql:: call should be guarded; this is the safety net.
    lease.discard();
    return failure(translate(e, lease->flavor(), "storing an event"));
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
    if (e.retryable()) return std::vector<StoreResult>(messages.size(), failure(e));
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
