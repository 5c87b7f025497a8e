#include "support/fake_role_store.h"

#include <algorithm>

namespace hm::test {
namespace {

constexpr long long kClaimMs = 60 * 1000;  // as the MySQL store: a claim lasts a minute

template <class T>
Result<T> failed(Status s) {
  return Result<T>::Failed(std::move(s));
}

}  // namespace

std::uint64_t FakeRoleStore::add_message(StoredMessage m) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (m.id == 0) m.id = messages_.size() + 1;
  messages_.push_back(std::move(m));
  return messages_.back().id;
}

void FakeRoleStore::mark_deleted(const std::string& mid) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& m : messages_)
    if (m.mid == mid) m.is_deleted = true;
}

void FakeRoleStore::fail_next(const std::string& method, Status status) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_[method].push_back(std::move(status));
}

int FakeRoleStore::calls(const std::string& method) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

Status FakeRoleStore::enter(const char* method) {
  ++calls_[method];
  auto it = failures_.find(method);
  if (it == failures_.end() || it->second.empty()) return Status::Ok();
  Status s = std::move(it->second.front());
  it->second.pop_front();
  return s;
}

std::optional<FakeRoleStore::Contact> FakeRoleStore::contact(const std::string& account_id,
                                                             const std::string& igsid) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = contacts_.find({account_id, igsid});
  if (it == contacts_.end()) return std::nullopt;
  return it->second;
}

std::optional<FakeRoleStore::Conversation> FakeRoleStore::conversation(const std::string& account_id,
                                                                       const std::string& customer_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = conversations_.find({account_id, customer_id});
  if (it == conversations_.end()) return std::nullopt;
  return it->second;
}

std::optional<FakeRoleStore::Media> FakeRoleStore::media(std::uint64_t message_id, int idx) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = media_.find({message_id, idx});
  if (it == media_.end()) return std::nullopt;
  return it->second;
}

std::optional<FakeRoleStore::Reply> FakeRoleStore::stored_reply(std::uint64_t message_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = replies_.find(message_id);
  if (it == replies_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<StoredMessage>> FakeRoleStore::find_message(const std::string& mid) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("find_message"); !s.ok()) return failed<std::optional<StoredMessage>>(std::move(s));
  for (const auto& m : messages_)
    if (m.mid == mid) return Result<std::optional<StoredMessage>>::Of(m);
  return Result<std::optional<StoredMessage>>::Of(std::nullopt);
}

Status FakeRoleStore::upsert_contact(const std::string& account_id, const std::string& igsid, long long seen_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("upsert_contact"); !s.ok()) return s;
  auto [it, inserted] = contacts_.try_emplace({account_id, igsid});
  it->second.first_seen_ms = inserted ? seen_ms : std::min(it->second.first_seen_ms, seen_ms);
  return Status::Ok();
}

Status FakeRoleStore::upsert_conversation(const std::string& account_id, const std::string& customer_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("upsert_conversation"); !s.ok()) return s;
  Conversation now;
  bool any = false;
  for (const auto& m : messages_) {
    if (m.account_id != account_id || m.customer_id != customer_id) continue;
    now.first_message_ms = any ? std::min(now.first_message_ms, m.event_time_ms) : m.event_time_ms;
    now.last_message_ms = any ? std::max(now.last_message_ms, m.event_time_ms) : m.event_time_ms;
    any = true;
    if (m.direction == Direction::kInbound) {
      now.last_inbound_ms = std::max(now.last_inbound_ms.value_or(m.event_time_ms), m.event_time_ms);
      ++now.inbound_count;
    } else {
      ++now.outbound_count;
    }
  }
  if (!any) return Status::Ok();  // as INSERT ... SELECT of no rows
  auto [it, inserted] = conversations_.try_emplace({account_id, customer_id}, now);
  if (inserted) return Status::Ok();
  Conversation& c = it->second;
  c.first_message_ms = std::min(c.first_message_ms, now.first_message_ms);
  c.last_message_ms = std::max(c.last_message_ms, now.last_message_ms);
  if (now.last_inbound_ms) c.last_inbound_ms = std::max(c.last_inbound_ms.value_or(0), *now.last_inbound_ms);
  c.inbound_count = std::max(c.inbound_count, now.inbound_count);
  c.outbound_count = std::max(c.outbound_count, now.outbound_count);
  return Status::Ok();
}

Result<bool> FakeRoleStore::claim_profile_fetch(const std::string& account_id, const std::string& igsid,
                                                std::chrono::seconds ttl) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("claim_profile_fetch"); !s.ok()) return failed<bool>(std::move(s));
  auto it = contacts_.find({account_id, igsid});
  if (it == contacts_.end()) return Result<bool>::Of(false);
  Contact& c = it->second;
  const long long now = clock_.wall_ms();
  const long long ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  if (c.profile_fetched_ms && *c.profile_fetched_ms >= now - ttl_ms) return Result<bool>::Of(false);
  if (c.profile_claimed_ms && *c.profile_claimed_ms >= now - kClaimMs) return Result<bool>::Of(false);
  c.profile_claimed_ms = now;
  return Result<bool>::Of(true);
}

Status FakeRoleStore::save_profile(const std::string& account_id, const std::string& igsid, const Profile& profile) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("save_profile"); !s.ok()) return s;
  auto it = contacts_.find({account_id, igsid});
  if (it == contacts_.end()) return Status::Ok();  // as an UPDATE of no row
  it->second.profile = profile;
  it->second.profile_fetched_ms = clock_.wall_ms();
  it->second.profile_claimed_ms.reset();
  it->second.profile_error.clear();
  ++it->second.fetches_saved;
  return Status::Ok();
}

Status FakeRoleStore::save_profile_error(const std::string& account_id, const std::string& igsid,
                                         const std::string& error, bool permanent) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("save_profile_error"); !s.ok()) return s;
  auto it = contacts_.find({account_id, igsid});
  if (it == contacts_.end()) return Status::Ok();
  it->second.profile_error = error.substr(0, 2000);
  if (permanent) it->second.profile_fetched_ms = clock_.wall_ms();
  it->second.profile_claimed_ms.reset();
  return Status::Ok();
}

Result<std::optional<MediaStatus>> FakeRoleStore::media_status(std::uint64_t message_id, int idx) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("media_status"); !s.ok()) return failed<std::optional<MediaStatus>>(std::move(s));
  auto it = media_.find({message_id, idx});
  if (it == media_.end()) return Result<std::optional<MediaStatus>>::Of(std::nullopt);
  return Result<std::optional<MediaStatus>>::Of(it->second.record.status);
}

Status FakeRoleStore::save_media(const MediaRecord& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("save_media"); !s.ok()) return s;
  auto [it, inserted] = media_.try_emplace({record.message_id, record.idx}, Media{record, 1});
  if (!inserted) {
    const std::string type = it->second.record.type, url = it->second.record.source_url;
    it->second.record = record;
    it->second.record.type = type;  // as ON DUPLICATE KEY UPDATE: type and URL stay
    it->second.record.source_url = url;
    ++it->second.attempts;
  }
  return Status::Ok();
}

Result<std::optional<long long>> FakeRoleStore::last_inbound_ms(const std::string& account_id,
                                                                const std::string& customer_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("last_inbound_ms"); !s.ok()) return failed<std::optional<long long>>(std::move(s));
  std::optional<long long> last;
  for (const auto& m : messages_)
    if (m.account_id == account_id && m.customer_id == customer_id && m.direction == Direction::kInbound)
      last = std::max(last.value_or(m.event_time_ms), m.event_time_ms);
  return Result<std::optional<long long>>::Of(last);
}

Result<bool> FakeRoleStore::reserve_reply(std::uint64_t message_id, const std::string& account_id,
                                          const std::string& customer_id, const std::string& rule,
                                          const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("reserve_reply"); !s.ok()) return failed<bool>(std::move(s));
  Reply r;
  r.record.message_id = message_id;
  r.record.status = ReplyStatus::kReserved;
  r.account_id = account_id;
  r.customer_id = customer_id;
  r.rule = rule;
  r.text = text;
  return Result<bool>::Of(replies_.try_emplace(message_id, std::move(r)).second);
}

Result<std::optional<ReplyRecord>> FakeRoleStore::reply(std::uint64_t message_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("reply"); !s.ok()) return failed<std::optional<ReplyRecord>>(std::move(s));
  auto it = replies_.find(message_id);
  if (it == replies_.end()) return Result<std::optional<ReplyRecord>>::Of(std::nullopt);
  return Result<std::optional<ReplyRecord>>::Of(it->second.record);
}

Result<bool> FakeRoleStore::claim_reply_send(std::uint64_t message_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("claim_reply_send"); !s.ok()) return failed<bool>(std::move(s));
  auto it = replies_.find(message_id);
  if (it == replies_.end() || it->second.record.status != ReplyStatus::kReserved) return Result<bool>::Of(false);
  if (it->second.next_attempt_ms > clock_.wall_ms()) return Result<bool>::Of(false);
  it->second.next_attempt_ms = 0;
  it->second.claimed_ms = clock_.wall_ms();
  it->second.record.status = ReplyStatus::kSending;
  ++it->second.record.attempts;
  return Result<bool>::Of(true);
}

Status FakeRoleStore::finish_reply(std::uint64_t message_id, ReplyStatus status, const std::string& sent_message_id,
                                   const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("finish_reply"); !s.ok()) return s;
  auto it = replies_.find(message_id);
  if (it == replies_.end() || it->second.record.status != ReplyStatus::kSending) return Status::Ok();
  it->second.record.status = status;
  it->second.record.sent_message_id = sent_message_id;
  it->second.error = error.substr(0, 2000);
  return Status::Ok();
}

Result<long long> FakeRoleStore::expire_sending_replies(std::chrono::seconds older_than) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("expire_sending_replies"); !s.ok()) return failed<long long>(std::move(s));
  long long n = 0;
  const long long now = clock_.wall_ms();
  for (auto& [id, r] : replies_) {
    if (r.record.status != ReplyStatus::kSending || now - r.claimed_ms <= older_than.count() * 1000) continue;
    r.record.status = ReplyStatus::kUnknown;
    r.error = "left in sending";
    ++n;
  }
  return Result<long long>::Of(n);
}

Status FakeRoleStore::defer_reply(std::uint64_t message_id, std::chrono::seconds delay, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("defer_reply"); !s.ok()) return s;
  auto it = replies_.find(message_id);
  if (it == replies_.end() || it->second.record.status != ReplyStatus::kSending) return Status::Ok();
  it->second.record.status = ReplyStatus::kReserved;
  it->second.next_attempt_ms = clock_.wall_ms() + delay.count() * 1000;
  it->second.error = error;
  return Status::Ok();
}

Result<std::vector<DueReply>> FakeRoleStore::due_replies(int limit, std::chrono::seconds /*unclaimed_after*/,
                                                         const std::vector<std::string>& held_accounts) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (Status s = enter("due_replies"); !s.ok()) return failed<std::vector<DueReply>>(std::move(s));
  std::vector<DueReply> out;
  for (const auto& [id, r] : replies_) {
    if (static_cast<int>(out.size()) >= limit) break;
    if (r.record.status != ReplyStatus::kReserved || r.next_attempt_ms == 0 || r.next_attempt_ms > clock_.wall_ms())
      continue;
    if (std::find(held_accounts.begin(), held_accounts.end(), r.account_id) != held_accounts.end()) continue;
    for (const auto& m : messages_)
      if (m.id == id) out.push_back({id, r.account_id, m.mid, r.rule, r.text});
  }
  return Result<std::vector<DueReply>>::Of(std::move(out));
}

}  // namespace hm::test
