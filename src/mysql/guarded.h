#pragma once
// Private to src/mysql: the one way adapter code calls Connector/C++.
// guarded() runs a call that may throw sql::SQLException and translates the
// exception once into DbError (mysql/errors.h), noting a lost connection on
// the session so the pool discards it.

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include "mysql/errors.h"
#include "mysql/session.h"

namespace hm::mysql {

// Runs fn(), translating sql::SQLException into DbError (and marking `s`
// broken when the connection is lost). All adapter code touching sql:: objects
// goes through here.
template <class Fn>
auto guarded(Session& s, const char* context, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const sql::SQLException& e) {
    DbError err = translate(e, s.flavor(), context);
    s.note_failure(err);
    throw err;
  }
}

}  // namespace hm::mysql
