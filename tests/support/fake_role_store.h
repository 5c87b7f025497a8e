#pragma once
// An in-memory RoleStore with the MySQL store's idempotency: reserve_reply
// inserts only when absent, claim_reply_send moves only `reserved` to
// `sending`, finish_reply only leaves `sending`, claim_profile_fetch honours
// the TTL and the one-minute claim (time from the Clock's wall_ms), upserts
// merge (first seen moves back, conversation counts and times only forward).
// Failures are injected per method with fail_next(). Thread-safe (one mutex).

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hm/clock.h"
#include "hm/role_store.h"

namespace hm::test {

class FakeRoleStore final : public RoleStore {
 public:
  struct Contact {
    long long first_seen_ms = 0;
    std::optional<Profile> profile;
    std::optional<long long> profile_fetched_ms;
    std::optional<long long> profile_claimed_ms;
    std::string profile_error;
    int fetches_saved = 0;
  };
  struct Conversation {
    long long first_message_ms = 0;
    long long last_message_ms = 0;
    std::optional<long long> last_inbound_ms;
    long long inbound_count = 0;
    long long outbound_count = 0;
  };
  struct Reply {
    ReplyRecord record;
    std::string account_id, customer_id, rule, text, error;
    long long next_attempt_ms = 0;  // wall ms; 0: none
    long long claimed_ms = 0;       // wall ms of the last claim
  };
  struct Media {
    MediaRecord record;
    int attempts = 1;
  };

  explicit FakeRoleStore(Clock& clock) : clock_(clock) {}

  // Stores a message (the id is assigned when 0) and returns its id.
  std::uint64_t add_message(StoredMessage m);
  void mark_deleted(const std::string& mid);
  // The next call of `method` (e.g. "reserve_reply") fails with `status`;
  // several calls queue several failures.
  void fail_next(const std::string& method, Status status);
  // Calls made of `method`, failed or not.
  int calls(const std::string& method) const;

  std::optional<Contact> contact(const std::string& account_id, const std::string& igsid) const;
  std::optional<Conversation> conversation(const std::string& account_id, const std::string& customer_id) const;
  std::optional<Media> media(std::uint64_t message_id, int idx) const;
  std::optional<Reply> stored_reply(std::uint64_t message_id) const;

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
  using Key = std::pair<std::string, std::string>;
  // Counts the call; the failure queued for `method`, or Ok. Caller holds mutex_.
  Status enter(const char* method);

  Clock& clock_;
  mutable std::mutex mutex_;
  std::vector<StoredMessage> messages_;               // guarded by mutex_
  std::map<Key, Contact> contacts_;                   // guarded by mutex_
  std::map<Key, Conversation> conversations_;         // guarded by mutex_
  std::map<std::pair<std::uint64_t, int>, Media> media_;  // guarded by mutex_
  std::map<std::uint64_t, Reply> replies_;            // guarded by mutex_
  std::map<std::string, std::deque<Status>> failures_;  // guarded by mutex_
  std::map<std::string, int> calls_;                  // guarded by mutex_
};

}  // namespace hm::test
