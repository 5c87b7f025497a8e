// The events other than new messages: deletions, edits, reactions, reads.
#include "mysql/guarded.h"
#include "mysql/message_steps.h"
#include "mysql/statements.h"

namespace hm::mysql {
namespace {

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

}  // namespace

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
  ins.setString(4, to_string(re.action));
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

}  // namespace hm::mysql
