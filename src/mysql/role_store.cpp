#include "mysql/role_store.h"

#include <cppconn/datatype.h>

#include "core/text.h"
#include "mysql/guarded.h"
#include "mysql/statements.h"

namespace hm::mysql {
namespace {

// An error column's value: assembled from outside text (Graph messages, curl
// errors, HTTP answers) that may already hold a broken or cut sequence, so
// made printable UTF-8 first, then cut to 2000 bytes on a character boundary.
// Strict mode would refuse an invalid sequence anywhere in it (1366).
std::string error_text(const std::string& error) { return utf8_truncate(printable_utf8(error), 2000); }

void set_optional_string(sql::PreparedStatement& st, unsigned i, const std::optional<std::string>& v) {
  if (v) {
    st.setString(i, *v);
  } else {
    st.setNull(i, sql::DataType::VARCHAR);
  }
}

void set_optional_int(sql::PreparedStatement& st, unsigned i, const std::optional<long long>& v) {
  if (v) {
    st.setInt64(i, *v);
  } else {
    st.setNull(i, sql::DataType::BIGINT);
  }
}

void set_optional_bool(sql::PreparedStatement& st, unsigned i, const std::optional<bool>& v) {
  if (v) {
    st.setInt(i, *v ? 1 : 0);
  } else {
    st.setNull(i, sql::DataType::TINYINT);
  }
}

std::optional<std::string> get_optional(sql::ResultSet& rs, unsigned i) {
  if (rs.isNull(i)) return std::nullopt;
  return std::string(rs.getString(i));
}

// The text of an ENUM column as its enum; a value the schema does not allow is bad data.
template <class E>
E parsed(std::optional<E> value, const char* column, const std::string& text) {
  if (!value) throw DbError(DbErrorKind::kPermanent, 0, std::string(column) + ": unexpected value '" + text + "'");
  return *value;
}

Direction direction_of(const std::string& text) {
  if (text == to_string(Direction::kInbound)) return Direction::kInbound;
  return parsed<Direction>(text == to_string(Direction::kEcho) ? std::optional(Direction::kEcho) : std::nullopt,
                           "message.direction", text);
}

MessageKind kind_of(const std::string& text) {
  if (text == to_string(MessageKind::kMessage)) return MessageKind::kMessage;
  return parsed<MessageKind>(
      text == to_string(MessageKind::kPostback) ? std::optional(MessageKind::kPostback) : std::nullopt,
      "message.kind", text);
}

}  // namespace

Result<SessionPool::Lease> MysqlRoleStore::lease() {
  SessionPool::Lease conn;
  try {
    conn = pool_.checkout();
  } catch (const DbError& e) {
    return Result<SessionPool::Lease>::Failed(Status::Retryable(e.what(), e.code()));  // never about the data
  }
  if (Status schema = schema_.check(*conn); !schema.ok()) {
    schema.message = "schema not ready: " + schema.message;
    return Result<SessionPool::Lease>::Failed(std::move(schema));
  }
  return Result<SessionPool::Lease>::Of(std::move(conn));
}

template <class T, class Fn>
Result<T> MysqlRoleStore::run(const char* what, Fn&& fn) {
  auto leased = lease();
  if (!leased.ok()) return Result<T>::Failed(std::move(leased.status));
  auto& conn = leased.value;
  try {
    try {
      return Result<T>::Of(guarded(*conn, what, [&] { return fn(*conn); }));
    } catch (const DbError& e) {
      abandon(conn, e);
      schema_.note(e.code());
      throw;
    }
  } catch (const DbError& e) {
    return Result<T>::Failed(to_status(e));
  } catch (const std::exception& e) {
    return Result<T>::Failed(Status::Retryable(std::string("unexpected: ") + e.what()));
  }
}

Result<std::optional<StoredMessage>> MysqlRoleStore::find_message(const std::string& mid) {
  return run<std::optional<StoredMessage>>("reading the message", [&](Session& s) -> std::optional<StoredMessage> {
    auto& st = s.prepare(
        "SELECT id, ig_message_id, account_id, customer_id, direction, kind, text, attachments, is_deleted, "
        "CAST(UNIX_TIMESTAMP(event_time) * 1000 AS SIGNED) FROM message WHERE ig_message_id = ? LIMIT 1");
    st.setString(1, mid);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    if (!rs->next()) return std::nullopt;
    StoredMessage m;
    m.id = rs->getUInt64(1);
    m.mid = rs->getString(2);
    m.account_id = rs->getString(3);
    m.customer_id = rs->getString(4);
    m.direction = direction_of(rs->getString(5));
    m.kind = kind_of(rs->getString(6));
    m.text = get_optional(*rs, 7);
    m.attachments_json = get_optional(*rs, 8);
    m.is_deleted = rs->getInt(9) != 0;
    m.event_time_ms = rs->getInt64(10);
    return m;
  });
}

Status MysqlRoleStore::upsert_contact(const std::string& account_id, const std::string& igsid, long long seen_ms) {
  return run<int>("upserting the contact", [&](Session& s) {
    auto& st = s.prepare(
        "INSERT INTO contact (account_id, igsid, first_seen_at) VALUES (?, ?, ?) "
        "ON DUPLICATE KEY UPDATE first_seen_at = LEAST(first_seen_at, VALUES(first_seen_at))");
    st.setString(1, account_id);
    st.setString(2, igsid);
    st.setString(3, sql_datetime_ms(seen_ms));
    return st.executeUpdate();
  }).status;
}

Status MysqlRoleStore::upsert_conversation(const std::string& account_id, const std::string& customer_id) {
  return run<int>("upserting the conversation", [&](Session& s) {
    auto& st = s.prepare(
        "INSERT INTO conversation (account_id, customer_id, first_message_at, last_message_at, last_inbound_at, "
        "inbound_count, outbound_count) "
        "SELECT account_id, customer_id, MIN(event_time), MAX(event_time), "
        "MAX(CASE WHEN direction = 'inbound' THEN event_time END), "
        "SUM(direction = 'inbound'), SUM(direction = 'echo') "
        "FROM message WHERE account_id = ? AND customer_id = ? GROUP BY account_id, customer_id "
        "ON DUPLICATE KEY UPDATE "
        "first_message_at = LEAST(first_message_at, VALUES(first_message_at)), "
        "last_message_at = GREATEST(last_message_at, VALUES(last_message_at)), "
        "last_inbound_at = GREATEST(COALESCE(last_inbound_at, VALUES(last_inbound_at)), "
        "COALESCE(VALUES(last_inbound_at), last_inbound_at)), "
        "inbound_count = GREATEST(inbound_count, VALUES(inbound_count)), "
        "outbound_count = GREATEST(outbound_count, VALUES(outbound_count))");
    st.setString(1, account_id);
    st.setString(2, customer_id);
    return st.executeUpdate();
  }).status;
}

Result<bool> MysqlRoleStore::claim_profile_fetch(const std::string& account_id, const std::string& igsid,
                                                 std::chrono::seconds ttl) {
  return run<bool>("claiming the profile fetch", [&](Session& s) {
    auto& st = s.prepare(
        "UPDATE contact SET profile_claimed_at = NOW(3) WHERE account_id = ? AND igsid = ? "
        "AND (profile_fetched_at IS NULL OR profile_fetched_at < NOW(3) - INTERVAL ? SECOND) "
        "AND (profile_claimed_at IS NULL OR profile_claimed_at < NOW(3) - INTERVAL 60 SECOND)");
    st.setString(1, account_id);
    st.setString(2, igsid);
    st.setInt64(3, ttl.count());
    return st.executeUpdate() == 1;
  });
}

Status MysqlRoleStore::save_profile(const std::string& account_id, const std::string& igsid, const Profile& p) {
  return run<int>("saving the profile", [&](Session& s) {
    auto& st = s.prepare(
        "UPDATE contact SET name = ?, username = ?, profile_pic = ?, follower_count = ?, is_verified_user = ?, "
        "is_user_follow_business = ?, is_business_follow_user = ?, profile_fetched_at = NOW(3), "
        "profile_claimed_at = NULL, profile_error = NULL WHERE account_id = ? AND igsid = ?");
    // From the Graph API: cut to the columns (VARCHAR(255)) on a character boundary.
    set_optional_string(st, 1, p.name ? std::optional<std::string>(utf8_truncate(*p.name, 255)) : std::nullopt);
    set_optional_string(st, 2, p.username ? std::optional<std::string>(utf8_truncate(*p.username, 255)) : std::nullopt);
    set_optional_string(st, 3, p.profile_pic);
    set_optional_int(st, 4, p.follower_count);
    set_optional_bool(st, 5, p.is_verified_user);
    set_optional_bool(st, 6, p.is_user_follow_business);
    set_optional_bool(st, 7, p.is_business_follow_user);
    st.setString(8, account_id);
    st.setString(9, igsid);
    return st.executeUpdate();
  }).status;
}

Status MysqlRoleStore::save_profile_error(const std::string& account_id, const std::string& igsid,
                                          const std::string& error, bool permanent) {
  return run<int>("recording the profile error", [&](Session& s) {
    auto& st = s.prepare(permanent ? "UPDATE contact SET profile_error = ?, profile_fetched_at = NOW(3), "
                                     "profile_claimed_at = NULL WHERE account_id = ? AND igsid = ?"
                                   : "UPDATE contact SET profile_error = ?, profile_claimed_at = NULL "
                                     "WHERE account_id = ? AND igsid = ?");
    st.setString(1, error_text(error));
    st.setString(2, account_id);
    st.setString(3, igsid);
    return st.executeUpdate();
  }).status;
}

Result<std::optional<MediaStatus>> MysqlRoleStore::media_status(std::uint64_t message_id, int idx) {
  return run<std::optional<MediaStatus>>("reading the media row", [&](Session& s) -> std::optional<MediaStatus> {
    auto& st = s.prepare("SELECT status FROM media WHERE message_id = ? AND idx = ?");
    st.setUInt64(1, message_id);
    st.setInt(2, idx);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    if (!rs->next()) return std::nullopt;
    const std::string text = rs->getString(1);
    return parsed(parse_media_status(text), "media.status", text);
  });
}

Status MysqlRoleStore::save_media(const MediaRecord& m) {
  return run<int>("saving the media row", [&](Session& s) {
    auto& st = s.prepare(
        "INSERT INTO media (message_id, idx, type, source_url, sha256, size, content_type, status, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON DUPLICATE KEY UPDATE sha256 = VALUES(sha256), size = VALUES(size), content_type = VALUES(content_type), "
        "status = VALUES(status), error = VALUES(error), attempts = attempts + 1");
    st.setUInt64(1, m.message_id);
    st.setInt(2, m.idx);
    st.setString(3, utf8_truncate(m.type, 32));
    st.setString(4, m.source_url);
    set_optional_string(st, 5, m.sha256.empty() ? std::nullopt : std::optional<std::string>(m.sha256));
    set_optional_int(st, 6, m.status == MediaStatus::kStored ? std::optional<long long>(m.size) : std::nullopt);
    set_optional_string(st, 7, m.content_type.empty() ? std::nullopt : std::optional<std::string>(utf8_truncate(m.content_type, 255)));
    st.setString(8, to_string(m.status));
    set_optional_string(st, 9, m.error.empty() ? std::nullopt : std::optional<std::string>(error_text(m.error)));
    return st.executeUpdate();
  }).status;
}

Result<std::optional<long long>> MysqlRoleStore::last_inbound_ms(const std::string& account_id,
                                                                 const std::string& customer_id) {
  return run<std::optional<long long>>("reading the last inbound message", [&](Session& s) -> std::optional<long long> {
    auto& st = s.prepare(
        "SELECT CAST(UNIX_TIMESTAMP(MAX(event_time)) * 1000 AS SIGNED) FROM message "
        "WHERE account_id = ? AND customer_id = ? AND direction = 'inbound'");
    st.setString(1, account_id);
    st.setString(2, customer_id);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    if (!rs->next() || rs->isNull(1)) return std::nullopt;
    return static_cast<long long>(rs->getInt64(1));
  });
}

Result<bool> MysqlRoleStore::reserve_reply(std::uint64_t message_id, const std::string& account_id,
                                           const std::string& customer_id, const std::string& rule,
                                           const std::string& text) {
  return run<bool>("reserving the reply", [&](Session& s) {
    auto& st = s.prepare(
        "INSERT IGNORE INTO reply (message_id, account_id, customer_id, rule, text, status) "
        "VALUES (?, ?, ?, ?, ?, 'reserved')");
    st.setUInt64(1, message_id);
    st.setString(2, account_id);
    st.setString(3, customer_id);
    st.setString(4, utf8_truncate(rule, 255));
    st.setString(5, text);
    return insert_ignore(s, st, "reserving the reply") == 1;
  });
}

Result<std::optional<ReplyRecord>> MysqlRoleStore::reply(std::uint64_t message_id) {
  return run<std::optional<ReplyRecord>>("reading the reply", [&](Session& s) -> std::optional<ReplyRecord> {
    auto& st = s.prepare("SELECT status, attempts, COALESCE(sent_message_id, '') FROM reply WHERE message_id = ?");
    st.setUInt64(1, message_id);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    if (!rs->next()) return std::nullopt;
    ReplyRecord r;
    r.message_id = message_id;
    const std::string status = rs->getString(1);
    r.status = parsed(parse_reply_status(status), "reply.status", status);
    r.attempts = rs->getInt(2);
    r.sent_message_id = rs->getString(3);
    return r;
  });
}

Result<bool> MysqlRoleStore::claim_reply_send(std::uint64_t message_id) {
  return run<bool>("claiming the reply", [&](Session& s) {
    auto& st = s.prepare(
        "UPDATE reply SET status = 'sending', attempts = attempts + 1, next_attempt_at = NULL "
        "WHERE message_id = ? AND status = 'reserved' AND (next_attempt_at IS NULL OR next_attempt_at <= NOW(3))");
    st.setUInt64(1, message_id);
    return st.executeUpdate() == 1;
  });
}

Status MysqlRoleStore::finish_reply(std::uint64_t message_id, ReplyStatus status, const std::string& sent_message_id,
                                    const std::string& error) {
  return run<int>("recording the reply", [&](Session& s) {
    auto& st = s.prepare(
        "UPDATE reply SET status = ?, sent_message_id = ?, error = ? WHERE message_id = ? AND status = 'sending'");
    st.setString(1, to_string(status));
    set_optional_string(st, 2, sent_message_id.empty() ? std::nullopt : std::optional<std::string>(sent_message_id));
    set_optional_string(st, 3, error.empty() ? std::nullopt : std::optional<std::string>(error_text(error)));
    st.setUInt64(4, message_id);
    return st.executeUpdate();
  }).status;
}

Result<long long> MysqlRoleStore::expire_sending_replies(std::chrono::seconds older_than) {
  return run<long long>("expiring replies left in sending", [&](Session& s) {
    auto& st = s.prepare(
        "UPDATE reply SET status = 'unknown', error = CONCAT('left in sending for over ', ?, "
        "' s: its worker stopped mid-send, the message may or may not have gone out') "
        "WHERE status = 'sending' AND updated_at < NOW(3) - INTERVAL ? SECOND");
    st.setInt64(1, older_than.count());
    st.setInt64(2, older_than.count());
    return static_cast<long long>(st.executeUpdate());
  });
}

Status MysqlRoleStore::defer_reply(std::uint64_t message_id, std::chrono::seconds delay, const std::string& error) {
  return run<int>("deferring the reply", [&](Session& s) {
    auto& st = s.prepare(
        "UPDATE reply SET status = 'reserved', next_attempt_at = NOW(3) + INTERVAL ? SECOND, error = ? "
        "WHERE message_id = ? AND status = 'sending'");
    st.setInt64(1, delay.count());
    st.setString(2, error_text(error));
    st.setUInt64(3, message_id);
    return st.executeUpdate();
  }).status;
}

Result<std::vector<DueReply>> MysqlRoleStore::due_replies(int limit, std::chrono::seconds unclaimed_after,
                                                         const std::vector<std::string>& held_accounts) {
  // One statement whatever the number of held accounts: ids are decimal
  // digits, so a comma-separated list for FIND_IN_SET is exact.
  std::string held;
  for (const auto& a : held_accounts) {
    if (a.empty() || a.find_first_not_of("0123456789") != std::string::npos) continue;
    held += (held.empty() ? "" : ",") + a;
  }
  return run<std::vector<DueReply>>("reading due replies", [&](Session& s) {
    auto& st = s.prepare(
        "SELECT r.message_id, r.account_id, m.ig_message_id, r.rule, r.text FROM reply r "
        "JOIN message m ON m.id = r.message_id "
        "WHERE r.status = 'reserved' AND (r.next_attempt_at <= NOW(3) OR "
        "(r.next_attempt_at IS NULL AND r.updated_at < NOW(3) - INTERVAL ? SECOND)) "
        "AND FIND_IN_SET(r.account_id, ?) = 0 "
        "ORDER BY r.next_attempt_at LIMIT ?");
    st.setInt64(1, unclaimed_after.count());
    st.setString(2, held);
    st.setInt(3, limit);
    std::unique_ptr<sql::ResultSet> rs(st.executeQuery());
    std::vector<DueReply> out;
    while (rs->next())
      out.push_back({rs->getUInt64(1), rs->getString(2), rs->getString(3), rs->getString(4), rs->getString(5)});
    return out;
  });
}

}  // namespace hm::mysql
