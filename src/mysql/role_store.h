#pragma once
// RoleStore on MySQL/MariaDB through the bounded pool. A DbError (from the
// checkout or a statement) never leaves it: it is returned as a Status,
// kRetryable for retryable codes and for any failed checkout, kPermanent
// otherwise; while check_schema() fails (SchemaGate) every call is kRetryable. The
// enums travel as the text of their ENUM columns (to_string/parse in
// hm/role_store.h and hm/events.h). Thread-safe: each call leases a connection.

#include "hm/role_store.h"
#include "mysql/schema.h"
#include "mysql/session_pool.h"

namespace hm::mysql {

class MysqlRoleStore final : public RoleStore {
 public:
  explicit MysqlRoleStore(SessionPool& pool) : pool_(pool) {}

  Result<std::optional<StoredMessage>> find_message(const std::string& mid) override;
  Status upsert_contact(const std::string& account_id, const std::string& igsid, long long seen_ms) override;
  Status upsert_conversation(const std::string& account_id, const std::string& customer_id) override;
  Result<bool> claim_profile_fetch(const std::string& account_id, const std::string& igsid,
                                   std::chrono::seconds ttl) override;
  Status save_profile(const std::string& account_id, const std::string& igsid, const Profile& profile) override;
  Status save_profile_error(const std::string& account_id, const std::string& igsid, const std::string& error,
                            bool permanent) override;
  Result<std::optional<MediaStatus>> media_status(std::uint64_t message_id, int idx) override;
  Status save_media(const MediaRecord& record) override;
  Result<std::optional<long long>> last_inbound_ms(const std::string& account_id,
                                                   const std::string& customer_id) override;
  Result<bool> reserve_reply(std::uint64_t message_id, const std::string& account_id, const std::string& customer_id,
                             const std::string& rule, const std::string& text) override;
  Result<std::optional<ReplyRecord>> reply(std::uint64_t message_id) override;
  Result<bool> claim_reply_send(std::uint64_t message_id) override;
  Result<long long> expire_sending_replies(std::chrono::seconds older_than) override;
  Status defer_reply(std::uint64_t message_id, std::chrono::seconds delay, const std::string& error) override;
  Result<std::vector<DueReply>> due_replies(int limit, std::chrono::seconds unclaimed_after,
                                            const std::vector<std::string>& held_accounts) override;
  Status finish_reply(std::uint64_t message_id, ReplyStatus status, const std::string& sent_message_id,
                      const std::string& error) override;

 private:
  // Runs fn(session) on a leased connection; its value, or the Status of the
  // DbError it (or the checkout) threw.
  template <class T, class Fn>
  Result<T> run(const char* what, Fn&& fn);
  // A connection whose schema is ready, or the (always retryable) reason not.
  Result<SessionPool::Lease> lease();
  SessionPool& pool_;
  SchemaGate schema_;
};

}  // namespace hm::mysql
