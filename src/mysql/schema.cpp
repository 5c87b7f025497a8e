#include "mysql/schema.h"

#include <algorithm>
#include <set>

#include "mysql/guarded.h"

namespace hm::mysql {
namespace {

struct Migration {
  int version;
  const char* description;
  std::vector<const char*> statements;
};

// Identifiers (mids, account and user ids) are ASCII with a binary collation:
// base64 mids differ by letter case. Free text is utf8mb4.
Migration migration_1() {
  Migration m{1, "messages and the events that change them", {}};
  m.statements = {
      "CREATE TABLE IF NOT EXISTS message ("
      "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
      "  ig_message_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  sender_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  recipient_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  customer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL"
      "    COMMENT 'the customer of the conversation: sender if inbound, recipient if echo',"
      "  direction ENUM('inbound','echo') NOT NULL,"
      "  kind ENUM('message','postback') NOT NULL DEFAULT 'message',"
      "  text TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,"
      "  attachments MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'JSON array as received',"
      "  reply_to_mid VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,"
      "  postback_payload VARCHAR(1000) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,"
      "  event_time DATETIME(3) NOT NULL COMMENT 'UTC',"
      "  is_deleted TINYINT(1) NOT NULL DEFAULT 0,"
      "  deleted_at DATETIME(3) NULL,"
      "  edit_count INT UNSIGNED NOT NULL DEFAULT 0,"
      "  edited_at DATETIME(3) NULL,"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (id),"
      "  UNIQUE KEY uq_message_ig_message_id (ig_message_id),"
      "  KEY ix_message_conversation (account_id, customer_id, event_time)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
      "CREATE TABLE IF NOT EXISTS message_deletion ("
      "  ig_message_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  sender_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  deleted_at DATETIME(3) NOT NULL,"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (ig_message_id, sender_id)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
      "CREATE TABLE IF NOT EXISTS message_edit ("
      "  ig_message_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  num_edit INT UNSIGNED NOT NULL,"
      "  sender_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  text TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,"
      "  edited_at DATETIME(3) NOT NULL,"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (ig_message_id, num_edit)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
      "CREATE TABLE IF NOT EXISTS message_reaction ("
      "  ig_message_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  sender_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  event_time DATETIME(3) NOT NULL,"
      "  action ENUM('react','unreact') NOT NULL,"
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  reaction VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
      "  emoji VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (ig_message_id, sender_id, event_time, action)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
      "CREATE TABLE IF NOT EXISTS message_read ("
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  reader_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  ig_message_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  read_at DATETIME(3) NOT NULL,"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (account_id, reader_id, ig_message_id)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
  };
  return m;
}

Migration migration_2() {
  Migration m{2, "contacts, conversations, media, replies", {}};
  m.statements = {
      "CREATE TABLE IF NOT EXISTS contact ("
      "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  igsid VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  name VARCHAR(255) NULL,"
      "  username VARCHAR(255) NULL,"
      "  profile_pic TEXT NULL,"
      "  follower_count BIGINT NULL,"
      "  is_verified_user TINYINT(1) NULL,"
      "  is_user_follow_business TINYINT(1) NULL,"
      "  is_business_follow_user TINYINT(1) NULL,"
      "  profile_fetched_at DATETIME(3) NULL,"
      "  profile_claimed_at DATETIME(3) NULL,"
      "  profile_error TEXT NULL,"
      "  first_seen_at DATETIME(3) NOT NULL,"
      "  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (id),"
      "  UNIQUE KEY uq_contact (account_id, igsid)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
      "CREATE TABLE IF NOT EXISTS conversation ("
      "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  customer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  first_message_at DATETIME(3) NOT NULL,"
      "  last_message_at DATETIME(3) NOT NULL,"
      "  last_inbound_at DATETIME(3) NULL,"
      "  inbound_count INT UNSIGNED NOT NULL DEFAULT 0,"
      "  outbound_count INT UNSIGNED NOT NULL DEFAULT 0,"
      "  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (id),"
      "  UNIQUE KEY uq_conversation (account_id, customer_id)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
      "CREATE TABLE IF NOT EXISTS media ("
      "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
      "  message_id BIGINT UNSIGNED NOT NULL,"
      "  idx INT UNSIGNED NOT NULL COMMENT 'position in the message attachments',"
      "  type VARCHAR(32) NOT NULL,"
      "  source_url TEXT NOT NULL,"
      "  sha256 CHAR(64) CHARACTER SET ascii NULL,"
      "  size BIGINT UNSIGNED NULL,"
      "  content_type VARCHAR(255) NULL,"
      "  status ENUM('stored','failed') NOT NULL,"
      "  error TEXT NULL,"
      "  attempts INT UNSIGNED NOT NULL DEFAULT 1,"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
      "  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (id),"
      "  UNIQUE KEY uq_media (message_id, idx),"
      "  KEY ix_media_sha256 (sha256)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
      "CREATE TABLE IF NOT EXISTS reply ("
      "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,"
      "  message_id BIGINT UNSIGNED NOT NULL COMMENT 'the inbound message replied to',"
      "  account_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  customer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
      "  rule VARCHAR(255) NOT NULL,"
      "  text TEXT NOT NULL,"
      "  status ENUM('reserved','sending','sent','failed','unknown') NOT NULL,"
      "  attempts INT UNSIGNED NOT NULL DEFAULT 0,"
      "  sent_message_id VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,"
      "  error TEXT NULL,"
      "  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
      "  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),"
      "  PRIMARY KEY (id),"
      "  UNIQUE KEY uq_reply_message (message_id)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
  };
  return m;
}

// Deferred replies (rate limits, refused tokens) and the housekeeping that
// finds them and the stale sends without scanning the table.
Migration migration_3() {
  Migration m{3, "reply retries: next_attempt_at", {}};
  m.statements = {
      "ALTER TABLE reply ADD COLUMN next_attempt_at DATETIME(3) NULL AFTER attempts",
      "ALTER TABLE reply ADD KEY ix_reply_due (status, next_attempt_at)",
      "ALTER TABLE reply ADD KEY ix_reply_stale (status, updated_at)",
  };
  return m;
}

// Replies to stories keep the story's id and URL (never its media); media
// rows may be 'skipped' (story mentions, templates: nothing to download by
// policy or by nature).
Migration migration_4() {
  Migration m{4, "story replies: reply_to_story_id/url; media status skipped", {}};
  m.statements = {
      "ALTER TABLE message ADD COLUMN reply_to_story_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL "
      "AFTER reply_to_mid",
      "ALTER TABLE message ADD COLUMN reply_to_story_url TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL "
      "COMMENT 'the story CDN URL; the media itself is never stored' AFTER reply_to_story_id",
      "ALTER TABLE media MODIFY COLUMN status ENUM('stored','failed','skipped') NOT NULL",
  };
  return m;
}

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {migration_1(), migration_2(), migration_3(), migration_4()};
  return all;
}

// RAII for GET_LOCK/RELEASE_LOCK.
class NamedLock {
 public:
  NamedLock(Session& s, const std::string& name, int timeout_s) : s_(s), name_(name) {
    const auto rows = s_.query("SELECT GET_LOCK('" + name_ + "', " + std::to_string(timeout_s) + ")");
    if (rows.empty() || rows[0][0].value_or("0") != "1")
      throw DbError(DbErrorKind::kRetryable, 0, "another migrate holds the lock '" + name_ + "'");
  }
  ~NamedLock() {
    try {
      s_.query("SELECT RELEASE_LOCK('" + name_ + "')");
    } catch (...) {
      // The lock goes with the session anyway.
    }
  }
  NamedLock(const NamedLock&) = delete;
  NamedLock& operator=(const NamedLock&) = delete;

 private:
  Session& s_;
  std::string name_;
};

// One statement of a migration. A column or key that exists already (1060,
// 1061: a run stopped between a statement and the record of its migration)
// counts as done: MySQL 8 has no ADD COLUMN IF NOT EXISTS.
void apply(Session& s, const char* statement) {
  try {
    s.execute(statement);
  } catch (const DbError& e) {
    if (e.code() != 1060 && e.code() != 1061) throw;
  }
}

}  // namespace

MigrateResult migrate(Session& s) {
  if (s.flavor() == ServerFlavor::kMariaDB) s.execute("SET SESSION max_statement_time = 0");
  NamedLock lock(s, "hm_worker_migrate", 60);
  s.execute(
      "CREATE TABLE IF NOT EXISTS schema_migration ("
      "  version INT NOT NULL PRIMARY KEY,"
      "  description VARCHAR(255) NOT NULL,"
      "  applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
  std::set<int> done;
  for (const auto& row : s.query("SELECT version FROM schema_migration")) done.insert(std::stoi(row.at(0).value_or("0")));
  MigrateResult result;
  for (const auto& m : migrations()) {
    if (done.count(m.version)) continue;
    for (const char* stmt : m.statements) apply(s, stmt);
    auto& rec = s.prepare("INSERT IGNORE INTO schema_migration (version, description) VALUES (?, ?)");
    rec.setInt(1, m.version);
    rec.setString(2, m.description);
    guarded(s, "recording the migration", [&] { return rec.executeUpdate(); });
    result.applied.push_back(m.version);
    done.insert(m.version);
  }
  result.current_version = done.empty() ? 0 : *done.rbegin();
  return result;
}

IndexCheck verify_message_index(Session& s) {
  IndexCheck check;
  const auto columns = s.query(
      "SELECT DATA_TYPE, COALESCE(COLLATION_NAME, ''), COALESCE(CHARACTER_SET_NAME, '') "
      "FROM information_schema.COLUMNS "
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'message' AND COLUMN_NAME = 'ig_message_id'");
  if (columns.empty()) {
    check.problems.push_back("table message has no column ig_message_id (run `hm-worker migrate`)");
    return check;
  }
  const std::string type = columns[0][0].value_or("");
  check.collation = columns[0][1].value_or("");
  const bool binary_type = type == "binary" || type == "varbinary";
  const bool bin_collation = check.collation.size() > 4 && check.collation.compare(check.collation.size() - 4, 4, "_bin") == 0;
  if (!binary_type && !bin_collation) {
    check.problems.push_back("message.ig_message_id uses collation " + check.collation +
                             ", which is not case-sensitive: mids that differ only in letter case would be "
                             "taken as duplicates; it needs a _bin collation (e.g. ascii_bin)");
  }
  // Unique indexes whose only column is ig_message_id, without a prefix length.
  const auto indexes = s.query(
      "SELECT INDEX_NAME, NON_UNIQUE, COALESCE(SUB_PART, 0), "
      "  (SELECT COUNT(*) FROM information_schema.STATISTICS t "
      "   WHERE t.TABLE_SCHEMA = s.TABLE_SCHEMA AND t.TABLE_NAME = s.TABLE_NAME AND t.INDEX_NAME = s.INDEX_NAME) "
      "FROM information_schema.STATISTICS s "
      "WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME = 'message' AND s.COLUMN_NAME = 'ig_message_id' "
      "ORDER BY NON_UNIQUE, INDEX_NAME");
  for (const auto& row : indexes) {
    const bool unique = row[1].value_or("1") == "0";
    const bool whole = row[2].value_or("0") == "0";
    const bool single = row[3].value_or("0") == "1";
    if (unique && whole && single) {
      check.index_name = row[0].value_or("");
      break;
    }
  }
  if (check.index_name.empty()) {
    check.problems.push_back(
        "message.ig_message_id has no UNIQUE index on that column alone: INSERT IGNORE cannot detect "
        "duplicates and concurrent workers will store the same message twice");
  }
  check.ok = check.problems.empty();
  return check;
}

int required_schema_version() { return migrations().back().version; }

namespace {

// The tables the worker reads and writes, each probed for a grant.
constexpr const char* kWorkerTables[] = {"message",   "message_deletion", "message_edit", "message_reaction",
                                         "message_read", "contact",       "conversation", "media",
                                         "reply"};

bool schema_error(int code) {
  return code == 1146 || code == 1142 || code == 1143 || code == 1054;  // table, grant, column grant, column
}

int recorded_version(Session& s) {
  try {
    const auto rows = s.query("SELECT COALESCE(MAX(version), 0) FROM schema_migration");
    return rows.empty() ? 0 : std::stoi(rows.at(0).at(0).value_or("0"));
  } catch (const DbError& e) {
    if (e.code() == 1146) return 0;  // never migrated
    throw;
  }
}

}  // namespace

Status check_schema(Session& s) {
  const int need = required_schema_version();
  try {
    const int version = recorded_version(s);
    if (version < need) {
      return Status::Retryable("schema version " + std::to_string(version) + ", need " + std::to_string(need) +
                               ": run `hm-worker migrate`");
    }
    for (const char* table : kWorkerTables) {
      try {
        s.query(std::string("SELECT 1 FROM `") + table + "` LIMIT 0");
      } catch (const DbError& e) {
        if (!schema_error(e.code())) throw;
        return Status::Retryable(std::string("table ") + table + ": " + e.what() +
                                     (e.code() == 1146 ? " (run `hm-worker migrate`)" : " (grant it to the worker)"),
                                 e.code());
      }
    }
    return Status::Ok();
  } catch (const DbError& e) {
    return Status::Retryable(std::string("checking the schema: ") + e.what(), e.code());
  } catch (const std::exception& e) {
    return Status::Retryable(std::string("checking the schema: ") + e.what());
  }
}

Status SchemaGate::check(Session& s) {
  if (ready_.load()) return Status::Ok();
  Status st = check_schema(s);
  if (st.ok()) ready_ = true;
  return st;
}

void SchemaGate::note(int code) {
  if (schema_error(code)) ready_ = false;
}

}  // namespace hm::mysql
