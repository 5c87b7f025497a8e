#pragma once
// The storage seam of the enrich, media and reply roles. The MySQL
// implementation is mysql::MysqlRoleStore. Every method is idempotent, so a
// job handled twice does no harm; failures throw DbError.
// Thread-safe in the MySQL implementation (each call leases a connection).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "graph/graph_api.h"

namespace hm {

struct StoredMessage {
  std::uint64_t id = 0;
  std::string mid;
  std::string account_id;
  std::string customer_id;
  std::string direction;  // inbound or echo
  std::string kind;       // message or postback
  std::optional<std::string> text;
  std::optional<std::string> attachments_json;
  bool is_deleted = false;
  long long event_time_ms = 0;
};

struct MediaRecord {
  std::uint64_t message_id = 0;
  int idx = 0;
  std::string type;
  std::string source_url;
  std::string status;  // stored or failed
  std::string sha256;
  long long size = 0;
  std::string content_type;
  std::string error;
};

struct ReplyRecord {
  std::uint64_t message_id = 0;
  std::string status;  // reserved, sending, sent, failed, unknown
  int attempts = 0;
  std::string sent_message_id;
};

class RoleStore {
 public:
  virtual ~RoleStore() = default;
  virtual std::optional<StoredMessage> find_message(const std::string& mid) = 0;

  // enrich
  virtual void upsert_contact(const std::string& account_id, const std::string& igsid, long long seen_ms) = 0;
  // Recomputed from the message table and merged monotonically, so that
  // concurrent or repeated jobs can only move it forward.
  virtual void upsert_conversation(const std::string& account_id, const std::string& customer_id) = 0;
  // True when this caller may fetch the profile now: never fetched, or older
  // than ttl, and nobody else fetching it (a claim lasts a minute).
  virtual bool claim_profile_fetch(const std::string& account_id, const std::string& igsid, std::chrono::seconds ttl) = 0;
  virtual void save_profile(const std::string& account_id, const std::string& igsid, const Profile& profile) = 0;
  // Permanent errors count as a fetch (retried after the TTL); retryable ones release the claim.
  virtual void save_profile_error(const std::string& account_id, const std::string& igsid, const std::string& error,
                                  bool permanent) = 0;

  // media
  virtual std::optional<std::string> media_status(std::uint64_t message_id, int idx) = 0;
  virtual void save_media(const MediaRecord& record) = 0;

  // reply
  virtual std::optional<long long> last_inbound_ms(const std::string& account_id, const std::string& customer_id) = 0;
  // Reserves the reply to message_id (INSERT IGNORE); false when one exists already.
  virtual bool reserve_reply(std::uint64_t message_id, const std::string& account_id, const std::string& customer_id,
                             const std::string& rule, const std::string& text) = 0;
  virtual std::optional<ReplyRecord> reply(std::uint64_t message_id) = 0;
  // reserved -> sending (attempts + 1); false when not in `reserved`.
  virtual bool claim_reply_send(std::uint64_t message_id) = 0;
  virtual void finish_reply(std::uint64_t message_id, const std::string& status, const std::string& sent_message_id,
                            const std::string& error) = 0;
};

}  // namespace hm
