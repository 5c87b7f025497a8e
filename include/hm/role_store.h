#pragma once
// The storage seam of the enrich, media and reply roles. The MySQL
// implementation is mysql::MysqlRoleStore; tests use test::FakeRoleStore.
// Every method is idempotent, so a job handled twice does no harm. Failures
// are returned, never thrown: kRetryable when waiting may help (lock
// conflict, lost connection, pool exhausted), kPermanent when the data can
// never be stored.
// Thread-safe in both implementations (MySQL: each call leases a connection).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hm/events.h"
#include "hm/status.h"

namespace hm {

// The customer's profile as the Graph API answers it; a field it left out is empty.
struct Profile {
  std::optional<std::string> name, username, profile_pic;
  std::optional<long long> follower_count;
  std::optional<bool> is_verified_user, is_user_follow_business, is_business_follow_user;
};

struct StoredMessage {
  std::uint64_t id = 0;
  std::string mid;
  std::string account_id;
  std::string customer_id;
  Direction direction = Direction::kInbound;
  MessageKind kind = MessageKind::kMessage;
  std::optional<std::string> text;
  std::optional<std::string> attachments_json;
  bool is_deleted = false;
  long long event_time_ms = 0;
};

enum class MediaStatus {
  kStored,  // downloaded and kept under its SHA-256
  kFailed,  // can never be downloaded (no URL, too large, refused): not tried again
  kSkipped,  // not downloaded on purpose (story mention: Meta forbids storing it;
             // template, fallback: no media file); source_url kept, error says why
};

// "stored", "failed" or "skipped", as stored in media.status.
constexpr const char* to_string(MediaStatus s) {
  return s == MediaStatus::kStored ? "stored" : (s == MediaStatus::kSkipped ? "skipped" : "failed");
}
constexpr std::optional<MediaStatus> parse_media_status(std::string_view s) {
  if (s == "stored") return MediaStatus::kStored;
  if (s == "failed") return MediaStatus::kFailed;
  if (s == "skipped") return MediaStatus::kSkipped;
  return std::nullopt;
}

struct MediaRecord {
  std::uint64_t message_id = 0;
  int idx = 0;
  std::string type;
  std::string source_url;
  MediaStatus status = MediaStatus::kFailed;
  std::string sha256;        // kStored: hex SHA-256 of the bytes
  long long size = 0;        // kStored: bytes
  std::string content_type;
  std::string error;         // kFailed, kSkipped: why
};

enum class ReplyStatus {
  kReserved,  // chosen, not yet sent
  kSending,   // claimed by the one caller that may send it
  kSent,
  kFailed,    // refused, or not sent (the message was deleted)
  kUnknown,   // sent with no answer: never sent again
};

// "reserved", "sending", "sent", "failed" or "unknown", as stored in reply.status.
constexpr const char* to_string(ReplyStatus s) {
  switch (s) {
    case ReplyStatus::kReserved: return "reserved";
    case ReplyStatus::kSending: return "sending";
    case ReplyStatus::kSent: return "sent";
    case ReplyStatus::kFailed: return "failed";
    case ReplyStatus::kUnknown: return "unknown";
  }
  return "unknown";
}
constexpr std::optional<ReplyStatus> parse_reply_status(std::string_view s) {
  for (ReplyStatus r : {ReplyStatus::kReserved, ReplyStatus::kSending, ReplyStatus::kSent, ReplyStatus::kFailed,
                        ReplyStatus::kUnknown})
    if (s == to_string(r)) return r;
  return std::nullopt;
}

struct ReplyRecord {
  std::uint64_t message_id = 0;
  ReplyStatus status = ReplyStatus::kReserved;
  int attempts = 0;
  std::string sent_message_id;
};

// A reply waiting for its next attempt (after a rate limit, a refused token,
// the Graph API unreachable).
struct DueReply {
  std::uint64_t message_id = 0;
  std::string account_id;
  std::string mid;   // the inbound message's ig_message_id
  std::string rule;  // the rule that chose it
  std::string text;  // what to send
};

class RoleStore {
 public:
  virtual ~RoleStore() = default;
  // The message with this mid, or an empty optional when none is stored.
  virtual Result<std::optional<StoredMessage>> find_message(const std::string& mid) = 0;

  // enrich
  // Creates the contact, or moves its first_seen back to seen_ms.
  virtual Status upsert_contact(const std::string& account_id, const std::string& igsid, long long seen_ms) = 0;
  // Recomputed from the message table and merged monotonically, so that
  // concurrent or repeated jobs can only move it forward.
  virtual Status upsert_conversation(const std::string& account_id, const std::string& customer_id) = 0;
  // True when this caller may fetch the profile now: never fetched, or older
  // than ttl, and nobody else fetching it (a claim lasts a minute).
  virtual Result<bool> claim_profile_fetch(const std::string& account_id, const std::string& igsid,
                                           std::chrono::seconds ttl) = 0;
  // Records the profile as fetched now and releases the claim.
  virtual Status save_profile(const std::string& account_id, const std::string& igsid, const Profile& profile) = 0;
  // Permanent errors count as a fetch (retried after the TTL); retryable ones release the claim.
  virtual Status save_profile_error(const std::string& account_id, const std::string& igsid, const std::string& error,
                                    bool permanent) = 0;

  // media
  // The status of attachment idx of a message, or empty when it has no record yet.
  virtual Result<std::optional<MediaStatus>> media_status(std::uint64_t message_id, int idx) = 0;
  // Inserts or replaces the record of (message_id, idx).
  virtual Status save_media(const MediaRecord& record) = 0;

  // reply
  // The time of the customer's latest inbound message, or empty when none.
  virtual Result<std::optional<long long>> last_inbound_ms(const std::string& account_id,
                                                           const std::string& customer_id) = 0;
  // Reserves the reply to message_id (insert if absent); false when one exists already.
  virtual Result<bool> reserve_reply(std::uint64_t message_id, const std::string& account_id,
                                     const std::string& customer_id, const std::string& rule,
                                     const std::string& text) = 0;
  virtual Result<std::optional<ReplyRecord>> reply(std::uint64_t message_id) = 0;
  // reserved -> sending (attempts + 1); false when not in `reserved`, or when
  // its next attempt is not due yet.
  virtual Result<bool> claim_reply_send(std::uint64_t message_id) = 0;
  // sending -> status (kSent, kFailed or kUnknown); a reply in another state is left as it is.
  virtual Status finish_reply(std::uint64_t message_id, ReplyStatus status, const std::string& sent_message_id,
                              const std::string& error) = 0;
  // sending -> unknown for replies claimed more than `older_than` ago (their
  // worker died mid-send: the message may or may not have gone out); the
  // number of replies changed.
  virtual Result<long long> expire_sending_replies(std::chrono::seconds older_than) = 0;
  // sending -> reserved, due again after `delay`; `error` says why it waits.
  virtual Status defer_reply(std::uint64_t message_id, std::chrono::seconds delay, const std::string& error) = 0;
  // Deferred replies whose next attempt is due, longest waiting first; also
  // replies reserved but never claimed for over `unclaimed_after` (their job
  // was lost or came back too late). Replies of `held_accounts` (decimal
  // ids: accounts whose calls are paused) are left out, so that they never
  // crowd out the others.
  virtual Result<std::vector<DueReply>> due_replies(int limit, std::chrono::seconds unclaimed_after,
                                                    const std::vector<std::string>& held_accounts) = 0;
};

}  // namespace hm
