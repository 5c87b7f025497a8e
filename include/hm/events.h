#pragma once
// What one Instagram webhook delivery means, after parsing: a list of events,
// each one thing the store must record. Plain values, no behaviour.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hm {

// Length of message.ig_message_id and of the other mid columns (schema.cpp).
inline constexpr std::size_t kMaxMidLength = 255;
// Length of the account, sender and recipient id columns.
inline constexpr std::size_t kMaxIgIdLength = 64;
// Length of message.reply_to_story_id (ASCII) and of reply_to_story_url (bytes).
inline constexpr std::size_t kMaxStoryIdLength = 64;
inline constexpr std::size_t kMaxStoryUrlLength = 4096;
// Instagram-scoped ids (sender, recipient) and account ids (entry[].id) are
// decimal digits, at most this many: anything else is refused where it enters
// (the payload parser, the role jobs), since an id becomes a Graph API path.
inline constexpr std::size_t kMaxIgIdDigits = 32;
// Empty when id is a valid Instagram id; otherwise the problem, phrased to
// follow a field name ("is empty", "is not decimal digits", "is 40 digits,
// longer than the limit of 32"). Never quotes the id.
std::string instagram_id_problem(std::string_view id);

enum class Direction { kInbound, kEcho };
enum class MessageKind { kMessage, kPostback };

const char* to_string(Direction d);
const char* to_string(MessageKind k);

// A new message, an echo of one the business sent, or a postback (button tap).
struct NewMessage {
  std::string mid;
  std::string account_id;  // the business account (entry.id)
  std::string sender_id;
  std::string recipient_id;
  Direction direction = Direction::kInbound;
  MessageKind kind = MessageKind::kMessage;
  std::optional<std::string> text;              // postbacks: the button title
  std::optional<std::string> attachments_json;  // JSON array as received
  std::optional<std::string> reply_to_mid;
  // A reply to a story (message.reply_to.story): the story's id and CDN URL.
  // Only the URL is kept, never the story's media (Meta's platform policy).
  std::optional<std::string> reply_to_story_id;
  std::optional<std::string> reply_to_story_url;
  std::optional<std::string> postback_payload;
  std::int64_t timestamp_ms = 0;
};

// The sender unsent a message ("message": {"mid": ..., "is_deleted": true}).
struct MessageDeletion {
  std::string mid;
  std::string account_id;
  std::string sender_id;
  std::int64_t timestamp_ms = 0;
};

// The sender edited a message's text ("message_edit").
struct MessageEdit {
  std::string mid;
  std::string account_id;
  std::string sender_id;
  std::string text;
  std::int64_t num_edit = 0;
  std::int64_t timestamp_ms = 0;
};

enum class ReactionAction { kReact, kUnreact };
// "react", "unreact" (as stored in message_reaction.action).
constexpr const char* to_string(ReactionAction a) { return a == ReactionAction::kUnreact ? "unreact" : "react"; }

struct Reaction {
  std::string mid;
  std::string account_id;
  std::string sender_id;
  ReactionAction action = ReactionAction::kReact;
  std::string reaction;
  std::string emoji;
  std::int64_t timestamp_ms = 0;
};

// A read receipt ("read": {"mid": ...}): the reader saw messages up to mid.
struct ReadReceipt {
  std::string mid;
  std::string account_id;
  std::string reader_id;
  std::int64_t timestamp_ms = 0;
};

// An event kind the worker does not store (referral, optin, changes[]...).
struct SkippedEvent {
  std::string kind;
};

using Event = std::variant<NewMessage, MessageDeletion, MessageEdit, Reaction, ReadReceipt, SkippedEvent>;

// "message", "deletion", "edit", "reaction", "read" or "skipped:<kind>".
std::string describe(const Event& e);
// The mid an event is about, or empty.
const std::string& event_mid(const Event& e);

struct Delivery {
  std::vector<Event> events;
};

}  // namespace hm
