// hm-worker doctor: runs the checks (mysql/doctor.h) and prints the report as
// text or JSON; exit 3 when something needs attention.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands/command.h"
#include "core/text.h"
#include "mysql/doctor.h"
#include "mysql/session.h"

namespace hm::commands {
namespace {

nlohmann::ordered_json report_json(const mysql::DoctorReport& r) {
  nlohmann::ordered_json j;
  j["server"] = r.server_version;
  j["attention"] = r.attention();
  j["findings"] = nlohmann::ordered_json::array();
  for (const auto& f : r.findings) j["findings"].push_back({{"check", f.check}, {"attention", f.attention}, {"detail", f.detail}});
  j["lock_wait_source"] = r.lock_wait_source;
  j["lock_waits"] = nlohmann::ordered_json::array();
  for (const auto& w : r.lock_waits) {
    j["lock_waits"].push_back({{"waiting_thread", w.waiting_thread},
                               {"waiting_query", w.waiting_query},
                               {"blocking_thread", w.blocking_thread},
                               {"blocking_query", w.blocking_query},
                               {"wait_seconds", w.wait_seconds}});
  }
  j["long_queries"] = nlohmann::ordered_json::array();
  for (const auto& q : r.long_queries) {
    j["long_queries"].push_back({{"id", q.id}, {"user", q.user}, {"db", q.db}, {"command", q.command},
                                 {"seconds", q.seconds}, {"state", q.state}, {"query", q.info}});
  }
  j["connections"] = {{"threads_connected", r.threads_connected},
                      {"max_used_connections", r.max_used_connections},
                      {"max_connections", r.max_connections},
                      {"fleet_budget", r.fleet_budget}};
  j["tls"] = {{"encrypted", !r.tls_cipher.empty()}, {"cipher", r.tls_cipher}};
  j["session"] = {{"isolation", r.session.isolation},
                  {"innodb_lock_wait_timeout", r.session.lock_wait_timeout},
                  {"read_timeout", r.session.read_timeout_s},
                  {"write_timeout", r.session.write_timeout_s},
                  {"max_statement_time", r.session.max_statement_time_s},
                  {"character_set", r.session.character_set},
                  {"time_zone", r.session.time_zone}};
  return j;
}

void print_text(const mysql::DoctorReport& r) {
  std::cout << "server " << r.server_version << "\n\n";
  for (const auto& f : r.findings) {
    std::cout << (f.attention ? "ATTENTION  " : "ok         ") << f.check;
    std::cout << std::string(f.check.size() < 14 ? 14 - f.check.size() : 1, ' ') << f.detail << "\n";
  }
  if (!r.lock_waits.empty()) {
    std::cout << "\nlock waits (" << r.lock_wait_source << "):\n";
    for (const auto& w : r.lock_waits) {
      std::cout << "  thread " << w.waiting_thread << " waits " << w.wait_seconds << " s: " << utf8_truncate(w.waiting_query, 120)
                << "\n    blocked by thread " << w.blocking_thread << ": "
                << (w.blocking_query.empty() ? "(idle in transaction)" : utf8_truncate(w.blocking_query, 120)) << "\n";
    }
  }
  if (!r.long_queries.empty()) {
    std::cout << "\nlong statements:\n";
    for (const auto& q : r.long_queries) {
      std::cout << "  thread " << q.id << " " << q.user << "@" << q.db << " " << q.seconds << " s " << q.command << " "
                << q.state << ": " << utf8_truncate(q.info, 120) << "\n";
    }
  }
}

}  // namespace

int run_doctor(const Invocation& in) {
  mysql::DoctorOptions options;
  try {
    // Roles not named keep one replica.
    if (in.args.count("replicas")) {
      for (const auto& [role, n] : mysql::parse_replicas(in.args["replicas"].as<std::string>())) options.replicas[role] = n;
    }
  } catch (const ConfigError& e) {
    std::cerr << "hm-worker: " << e.what() << "\n";
    return kExitUsage;
  }
  if (in.args.count("long-query-seconds")) options.long_query_seconds = in.args["long-query-seconds"].as<int>();
  options.pool_size = in.cfg.pool.size;
  options.pool_max_overflow = in.cfg.pool.max_overflow;
  options.isolation = in.cfg.db.isolation;
  options.lock_wait_timeout = in.cfg.db.lock_wait_timeout;
  options.ssl_mode = in.cfg.db.ssl_mode;
  Database db;
  auto session = mysql::Session::connect(db.driver, in.cfg.db);
  const mysql::DoctorReport r = mysql::run_doctor(*session, options);
  if (in.args.count("json")) {
    std::cout << report_json(r).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
  } else {
    print_text(r);
  }
  return r.attention() ? kExitAttention : kExitOk;
}

}  // namespace hm::commands
