// The per-message path of MysqlMessageStore and the fast-path checks the
// batch path shares: find a message, insert it when absent, apply the changes
// recorded before it arrived.
#include <cppconn/datatype.h>

#include <algorithm>
#include <optional>

#include "core/text.h"
#include "mysql/guarded.h"
#include "mysql/message_steps.h"
#include "mysql/statements.h"

namespace hm::mysql {
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
const std::string& insert_message_sql() {
  static const std::string sql =
      std::string("INSERT IGNORE INTO message ") + kMessageColumnList + " VALUES " + placeholders(kMessageColumns);
  return sql;
}
// The per-message insert commits on its own; a row that a warning shows
// altered is taken out again at once.
constexpr const char* kDeleteAlteredSql = "DELETE FROM message WHERE id = LAST_INSERT_ID()";

void set_optional(sql::PreparedStatement& st, unsigned index, const std::optional<std::string>& v) {
  if (v) {
    st.setString(index, *v);
  } else {
    st.setNull(index, sql::DataType::VARCHAR);
  }
}

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
  static const std::string kEditOne = std::string(kApplyPendingEditSql) + "= ?";
  static const std::string kDeletionOne = std::string(kApplyPendingDeletionSql) + "= ?";
  auto& edit = s.prepare(kEditOne);
  edit.setUInt64(1, id);
  guarded(s, "applying an earlier edit", [&] { return edit.executeUpdate(); });
  auto& deletion = s.prepare(kDeletionOne);
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
         (m.reply_to_story_id && ascii_over(*m.reply_to_story_id, 64)) || utf8_over(m.reply_to_story_url, 65535) ||
         utf8_over(m.text, 65535) || utf8_over(m.postback_payload, 1000) || utf8_over(m.attachments_json, 16777215);
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

// The fast-path check of several mids in one statement: what is stored of
// them, by mid. A text statement (the mids as escaped literals): binding a
// hundred parameters cost the worker more than the read itself.
std::unordered_map<std::string, Found> look_up_all(Session& s, const std::vector<const std::string*>& mids,
                                                   const char* what) {
  std::unordered_map<std::string, Found> found;
  if (mids.empty()) return found;
  std::string sql = std::string("SELECT m.ig_message_id, m.id, ") + kOwesChanges + " FROM message m WHERE m.ig_message_id IN ";
  append_literal_list(s, sql, mids);
  std::unique_ptr<sql::ResultSet> rs(guarded(s, what, [&] { return s.text_statement().executeQuery(sql); }));
  guarded(s, what, [&] {
    while (rs->next()) found[std::string(rs->getString(1))] = Found{rs->getUInt64(2), rs->getBoolean(3)};
  });
  return found;
}

}  // namespace

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
  set_optional(st, b + 13, m.reply_to_story_id);
  set_optional(st, b + 14, m.reply_to_story_url);
}

namespace {

void append_optional(Session& s, std::string& sql, const std::optional<std::string>& v) {
  if (v) {
    s.append_literal(sql, *v);
  } else {
    sql += "NULL";
  }
}

}  // namespace

void append_message_row(Session& s, std::string& sql, const NewMessage& m) {
  sql.push_back('(');
  for (const std::string* v : {&m.mid, &m.account_id, &m.sender_id, &m.recipient_id}) {
    s.append_literal(sql, *v);
    sql += ", ";
  }
  s.append_literal(sql, to_string(m.direction));
  sql += ", ";
  s.append_literal(sql, to_string(m.kind));
  for (const auto* v : {&m.text, &m.attachments_json, &m.reply_to_mid, &m.postback_payload}) {
    sql += ", ";
    append_optional(s, sql, *v);
  }
  sql += ", ";
  s.append_literal(sql, sql_datetime_ms(m.timestamp_ms));
  sql += ", ";
  s.append_literal(sql, m.direction == Direction::kEcho ? m.recipient_id : m.sender_id);
  sql += ", ";
  append_optional(s, sql, m.reply_to_story_id);
  sql += ", ";
  append_optional(s, sql, m.reply_to_story_url);
  sql.push_back(')');
}

void append_literal_list(Session& s, std::string& sql, const std::vector<const std::string*>& values) {
  sql.push_back('(');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) sql += ", ";
    s.append_literal(sql, *values[i]);
  }
  sql.push_back(')');
}

std::string placeholders(std::size_t n) {
  std::string out = "(";
  for (std::size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out + ")";
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
  auto& ins = s.prepare(insert_message_sql());
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

// look_up_all(), then applies whatever the messages found still owe (rare:
// a change recorded before its message, or a repair after a failed read-back).
std::unordered_map<std::string, Found> look_up_and_settle(Session& s, const std::vector<const std::string*>& mids,
                                                          const char* what) {
  auto found = look_up_all(s, mids, what);
  for (const auto& [mid, f] : found)
    if (f.owes_changes) apply_owed_changes(s, f.id);
  return found;
}

}  // namespace hm::mysql
