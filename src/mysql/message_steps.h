#pragma once
// Private to src/mysql: the steps MysqlMessageStore runs on one session, by
// what they store. Each throws DbError (through guarded()); the store turns
// failures into results. message_path.cpp holds the per-message path and the
// fast-path checks, message_batch.cpp the batch path, message_events.cpp the
// other events (deletions, edits, reactions, reads).

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "hm/message_store.h"
#include "mysql/session.h"

namespace hm::mysql {

// What the fast-path check found of a stored message.
struct Found {
  std::uint64_t id = 0;
  bool owes_changes = false;  // a deletion or edit recorded before it is not applied yet
};

// The fast-path check of several mids in one statement, then applies whatever
// the messages found still owe (rare: a change recorded before its message,
// or a repair after a failed read-back). What is stored of them, by mid.
std::unordered_map<std::string, Found> look_up_and_settle(Session& s, const std::vector<const std::string*>& mids,
                                                          const char* what);

// The per-message insert of a message the fast-path check did not find
// (see message_path.cpp): kInserted without its id, or kDuplicate.
StoreResult insert_absent(Session& s, const NewMessage& m);

// One message on its own: the fast-path check, the insert when absent, the
// new row read back.
StoreResult store_message(Session& s, const NewMessage& m);

// The batch path: several new messages in one transaction, results aligned
// with `ms`. kPermanent means some row is bad (the caller falls back to one
// message at a time to find it).
std::vector<StoreResult> store_batch(Session& s, const std::vector<NewMessage>& ms);

// The other events, each recorded idempotently: kApplied.
StoreResult store_deletion(Session& s, const MessageDeletion& d);
StoreResult store_edit(Session& s, const MessageEdit& e);
StoreResult store_reaction(Session& s, const Reaction& re);
StoreResult store_read(Session& s, const ReadReceipt& rr);

// The columns of a message row, in the order bind_message() binds them.
constexpr unsigned kMessageColumns = 14;
constexpr const char* kMessageColumnList =
    "(ig_message_id, account_id, sender_id, recipient_id, direction, kind, text, attachments, reply_to_mid, "
    "postback_payload, event_time, customer_id, reply_to_story_id, reply_to_story_url)";

// Binds one message's columns, in kMessageColumnList order, at row `row` of a
// (multi-row) INSERT.
void bind_message(sql::PreparedStatement& st, unsigned row, const NewMessage& m);

// The same columns as one row of literals, "(...)", appended to a text
// statement (Session::append_literal()).
void append_message_row(Session& s, std::string& sql, const NewMessage& m);

// "('a', 'b', ...)": the strings as escaped literals, for a text IN list.
void append_literal_list(Session& s, std::string& sql, const std::vector<const std::string*>& values);

// Apply what a message owes when it arrives after its deletion or edit: each
// ends in "m.id " for the caller to finish with "= ?" (one message) or
// "IN (...)" (a batch).
constexpr const char* kApplyPendingDeletionSql =
    "UPDATE message m JOIN message_deletion d "
    "ON d.ig_message_id = m.ig_message_id AND d.sender_id = m.sender_id "
    "SET m.is_deleted = 1, m.deleted_at = d.deleted_at WHERE m.id ";
// Only the latest edit recorded (the highest num_edit) is applied.
constexpr const char* kApplyPendingEditSql =
    "UPDATE message m JOIN message_edit e "
    "ON e.ig_message_id = m.ig_message_id AND e.sender_id = m.sender_id "
    "SET m.text = e.text, m.edit_count = e.num_edit, m.edited_at = e.edited_at "
    "WHERE m.edit_count < e.num_edit "
    "AND e.num_edit = (SELECT MAX(x.num_edit) FROM message_edit x "
    "WHERE x.ig_message_id = e.ig_message_id AND x.sender_id = e.sender_id) AND m.id ";

// "(?, ?, ..., ?)" with n placeholders.
std::string placeholders(std::size_t n);

}  // namespace hm::mysql
