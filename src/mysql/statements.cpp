#include "mysql/statements.h"

#include <cstdio>
#include <ctime>

#include "mysql/guarded.h"

namespace hm::mysql {

const DbError& abandon(SessionPool::Lease& lease, const DbError& e) {
  if (lease->in_transaction()) lease->rollback();
  if (e.code() != 0 && classify(e.code(), lease->flavor()).action == ConnectionAction::kDropPool) {
    lease.discard_all();  // every pooled connection points at the server that refused
  } else if (e.connection_broken() || lease->broken()) {
    lease.discard();
  }
  return e;
}

int execute_insert_ignore(Session& s, sql::PreparedStatement& st, const char* what) {
  // Connector/C++ 1.1 keeps a statement's warnings across executions when the
  // next execution has none: clear them, or a clean insert after a bad one
  // would be reported with the bad one's warnings.
  guarded(s, what, [&] { st.clearWarnings(); });
  const int affected = guarded(s, what, [&] { return st.executeUpdate(); });
  // The statement stays cached; its copies of the values (a whole batch of
  // texts for a multi-row insert) need not stay with it.
  guarded(s, what, [&] { st.clearParameters(); });
  return affected;
}

void check_insert_warnings(Session& s, sql::Statement& st, const char* what, const char* aftermath) {
  for (const auto& w : s.warnings(st)) {
    if (w.code != 1062) {
      throw DbError(DbErrorKind::kPermanent, w.code,
                    std::string(what) + ": warning " + std::to_string(w.code) + ": " + w.message + " (" + aftermath +
                        ")");
    }
  }
}

int insert_ignore(Session& s, sql::PreparedStatement& st, const char* what) {
  const int affected = execute_insert_ignore(s, st, what);
  check_insert_warnings(s, st, what, "the row would be stored altered; rolled back");
  return affected;
}

int insert_ignore_text(Session& s, const std::string& sql, const char* what) {
  sql::Statement& st = s.text_statement();
  guarded(s, what, [&] { st.clearWarnings(); });  // as execute_insert_ignore(): none left from before
  const int affected = guarded(s, what, [&] { return st.executeUpdate(sql); });
  check_insert_warnings(s, st, what, "the row would be stored altered; rolled back");
  return affected;
}

std::string sql_datetime_ms(std::int64_t epoch_ms) {
  const std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(epoch_ms % 1000));
  return buf;
}

}  // namespace hm::mysql
