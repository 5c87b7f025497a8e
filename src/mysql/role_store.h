#pragma once
// RoleStore on MySQL/MariaDB through the bounded pool.

#include "mysql/message_store.h"
#include "hm/role_store.h"

namespace hm::mysql {

class MysqlRoleStore final : public RoleStore {
 public:
  explicit MysqlRoleStore(SessionPool& pool) : pool_(pool) {}

  std::optional<StoredMessage> find_message(const std::string& mid) override;
  void upsert_contact(const std::string& account_id, const std::string& igsid, long long seen_ms) override;
  void upsert_conversation(const std::string& account_id, const std::string& customer_id) override;
  bool claim_profile_fetch(const std::string& account_id, const std::string& igsid, std::chrono::seconds ttl) override;
  void save_profile(const std::string& account_id, const std::string& igsid, const Profile& profile) override;
  void save_profile_error(const std::string& account_id, const std::string& igsid, const std::string& error,
                          bool permanent) override;
  std::optional<std::string> media_status(std::uint64_t message_id, int idx) override;
  void save_media(const MediaRecord& record) override;
  std::optional<long long> last_inbound_ms(const std::string& account_id, const std::string& customer_id) override;
  bool reserve_reply(std::uint64_t message_id, const std::string& account_id, const std::string& customer_id,
                     const std::string& rule, const std::string& text) override;
  std::optional<ReplyRecord> reply(std::uint64_t message_id) override;
  bool claim_reply_send(std::uint64_t message_id) override;
  void finish_reply(std::uint64_t message_id, const std::string& status, const std::string& sent_message_id,
                    const std::string& error) override;

 private:
  template <class Fn>
  auto with_session(const char* what, Fn&& fn) -> decltype(fn(std::declval<Session&>()));
  SessionPool& pool_;
};

}  // namespace hm::mysql
