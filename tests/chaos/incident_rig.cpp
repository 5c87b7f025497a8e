#include "chaos/incident_rig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "redis/redis_url.h"

namespace hm::test {

using namespace std::chrono_literals;

IncidentRig::IncidentRig(const std::string& name, bool migrate)
    : db_("inc_" + name, migrate), user_("hm_inc_" + std::to_string(::getpid())) {
  stream_ = "hm:inc:" + name + ":" + std::to_string(::getpid());
  db_.execute("DROP USER IF EXISTS '" + user_ + "'@'127.0.0.1'");
  db_.execute("CREATE USER '" + user_ + "'@'127.0.0.1' IDENTIFIED BY '" + password_ + "'");
  db_.execute("GRANT ALL PRIVILEGES ON `" + db_.name() + "`.* TO '" + user_ + "'@'127.0.0.1'");
  db_proxy_ = std::make_unique<FaultProxy>(db_.options().host, db_.options().port);
  redis_options_ = redis::parse_redis_url(stack_redis_url());
  redis_proxy_ = std::make_unique<FaultProxy>(redis_options_.host, redis_options_.port);
}

IncidentRig::~IncidentRig() {
  if (polling_) stop_health_polls();
  workers_.clear();
  db_proxy_.reset();
  redis_proxy_.reset();
  try {
    redis({"DEL", stream_, stream_ + ":dead"});
  } catch (...) {
  }
  try {
    db_.execute("SET GLOBAL read_only = 0");
    db_.execute("SET GLOBAL auto_increment_increment = 1");
    db_.execute("DROP USER IF EXISTS '" + user_ + "'@'127.0.0.1'");
  } catch (...) {
  }
}

void IncidentRig::start_workers(int n, const std::map<std::string, std::string>& extra) {
  for (int k = 0; k < n; ++k) {
    const int index = static_cast<int>(workers_.size());
    const int port = free_port();
    std::map<std::string, std::string> env = {
        {"DATABASE_URL", ""},
        {"DB_HOST", "127.0.0.1"},
        {"DB_PORT", std::to_string(db_proxy_->port())},
        {"DB_NAME", db_.name()},
        {"DB_USER", user_},
        {"DB_PASSWORD", password_},
        {"REDIS_URL", "redis://127.0.0.1:" + std::to_string(redis_proxy_->port()) + "/0"},
        {"REDIS_TIMEOUT", "2"},
        {"QUEUE_STREAM", stream_},
        {"QUEUE_STREAM_PREFIX", stream_ + ":"},
        {"CONSUMER_NAME", "inc-" + std::to_string(index)},
        {"WORKER_CONCURRENCY", "2"},
        {"DB_POOL_SIZE", "2"},
        {"DB_MAX_OVERFLOW", "1"},
        {"INGEST_BATCH_SIZE", "50"},
        {"QUEUE_BLOCK_MS", "200"},
        {"DB_CONNECT_TIMEOUT", "2"},
        {"DB_QUERY_TIMEOUT", "3"},
        {"DB_LOCK_WAIT_TIMEOUT", "2"},
        {"DB_RETRY_ATTEMPTS", "20"},
        {"DB_RETRY_MAX_MS", "1000"},
        {"DB_RETRY_MAX_TOTAL_MS", "10000"},
        {"QUEUE_VISIBILITY_TIMEOUT", "15"},
        {"QUEUE_MAX_DELIVERIES", "10"},
        {"SHUTDOWN_TIMEOUT", "10"},
        {"DEAD_LETTER_PATH", "/tmp/hm-inc-dead-" + std::to_string(::getpid()) + ".jsonl"},
        {"METRICS_PORT", std::to_string(port)},
        {"METRICS_BIND", "127.0.0.1"},
        {"LOG_LEVEL", "info"},
    };
    for (const auto& [key, value] : extra) env[key] = value;
    workers_.push_back(std::make_unique<ChildProcess>(HM_WORKER_BINARY, std::vector<std::string>{"run", "--role", "ingest"},
                                                      env, "inc-" + std::to_string(index)));
    ports_.push_back(port);
  }
}

void IncidentRig::clear_workers() {
  if (polling_) stop_health_polls();
  workers_.clear();
  ports_.clear();
}

redis::Reply IncidentRig::redis(const std::vector<std::string>& argv) {
  for (int attempt = 0;; ++attempt) {
    try {
      if (!redis_) redis_ = redis::Connection::connect(redis_options_);
      return redis_->command(argv);
    } catch (const redis::RedisError& e) {
      if (!e.connection_broken() || attempt > 100) throw;
      redis_.reset();
      std::this_thread::sleep_for(200ms);
    }
  }
}

void IncidentRig::send(int n) {
  static const char* texts[] = {"Merhaba! Yarın 19:30 için masa 🙏", "شكراً جزيلاً ❤️", "Do you ship to Germany? 🇩🇪",
                                "👍", "İade süreci nasıl işliyor? 😕"};
  std::vector<std::vector<std::string>> chunk;
  for (int k = 0; k < n; ++k) {
    const int i = sent();
    const std::string mid = "aWdfInc" + std::to_string(i) + (i % 2 ? "xY" : "Xy");
    const std::string text = std::string(texts[i % 5]) + " #" + std::to_string(i);
    sent_.emplace_back(mid, text);
    chunk.push_back({"XADD", stream_, "*", "payload", text_delivery(mid, text, 1768396566941LL + i), "enqueued_at",
                     std::to_string(1768396566941LL + i)});
    if (chunk.size() == 500 || k + 1 == n) {
      for (int attempt = 0;; ++attempt) {
        try {
          if (!redis_) redis_ = redis::Connection::connect(redis_options_);
          redis_->pipeline(chunk);
          break;
        } catch (const redis::RedisError& e) {
          if (!e.connection_broken() || attempt > 100) throw;
          redis_.reset();
          std::this_thread::sleep_for(200ms);
        }
      }
      chunk.clear();
    }
  }
}

long long IncidentRig::stored() {
  try {
    return db_.scalar("SELECT COUNT(*) FROM message");
  } catch (const DbError&) {
    return 0;  // e.g. before migrate
  }
}

bool IncidentRig::wait_stored(long long rows, std::chrono::milliseconds limit) {
  return eventually([&] { return stored() >= rows; }, limit);
}

long long IncidentRig::redis_pending() {
  try {
    redis::Reply r = redis({"XPENDING", stream_, "hm-worker"});
    return r.view().at(0).integer();
  } catch (const redis::RedisError&) {
    return -1;
  }
}

bool IncidentRig::wait_drained(std::chrono::milliseconds limit) {
  return eventually([&] { return stored() >= sent() && redis_pending() == 0; }, limit);
}

Outcome IncidentRig::check() {
  Outcome o;
  std::map<std::string, std::string> got;
  for (const auto& row : db_.query("SELECT ig_message_id, text FROM message")) {
    ++o.rows;
    got[row[0].value_or("")] = row[1].value_or("");
  }
  std::map<std::string, std::string> want(sent_.begin(), sent_.end());
  for (const auto& [mid, text] : want) {
    auto it = got.find(mid);
    if (it == got.end()) {
      ++o.missing;
    } else if (it->second != text) {
      ++o.altered;
    }
  }
  for (const auto& [mid, text] : got)
    if (!want.count(mid)) ++o.extra;
  o.pending = redis_pending();
  try {
    o.dead = redis({"XLEN", stream_ + ":dead"}).view().integer();
  } catch (const redis::RedisError&) {
  }
  return o;
}

double IncidentRig::metric_sum(const std::vector<std::string>& families) {
  double sum = 0;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (!workers_[i]->running()) continue;
    std::istringstream in(http_get(ports_[i], "/metrics").body);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const std::string name = line.substr(0, line.find_first_of("{ "));
      for (const auto& f : families)
        if (name == f) sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return sum;
}

std::vector<double> IncidentRig::cpu_seconds() {
  std::vector<double> out;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (auto& w : workers_) {
    std::ifstream in("/proc/" + std::to_string(w->pid()) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    double seconds = 0;
    if (close != std::string::npos) {
      std::istringstream fields(stat.substr(close + 2));
      std::string f;
      long long utime = 0, stime = 0;
      for (int k = 3; fields >> f; ++k) {  // field 3 is the state
        if (k == 14) utime = std::stoll(f);
        if (k == 15) {
          stime = std::stoll(f);
          break;
        }
      }
      seconds = static_cast<double>(utime + stime) / tick;
    }
    out.push_back(seconds);
  }
  return out;
}

void IncidentRig::start_health_polls(std::chrono::milliseconds limit) {
  health_ = {};
  // Polls count from the first answer: a process that has not bound its port yet is starting, not failing.
  for (int port : ports_) eventually([&] { return http_get(port, "/healthz").status != 0; }, 10s);
  polling_ = true;
  poller_ = std::thread([this, limit] {
    while (polling_) {
      for (std::size_t i = 0; i < ports_.size(); ++i) {  // stop the polls before stopping a worker
        const auto start = std::chrono::steady_clock::now();
        const auto r = http_get(ports_[i], "/healthz");
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
        ++health_.polls;
        health_.slowest_ms = std::max(health_.slowest_ms, static_cast<long long>(ms));
        if (r.status != 200 || ms > limit.count()) ++health_.failed;
      }
      std::this_thread::sleep_for(250ms);
    }
  });
}

HealthStats IncidentRig::stop_health_polls() {
  polling_ = false;
  if (poller_.joinable()) poller_.join();
  return health_;
}

int IncidentRig::kill_sessions() {
  int killed = 0;
  for (const auto& row : db_.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '" + user_ + "'")) {
    try {
      db_.execute("KILL " + row[0].value_or("0"));
      ++killed;
    } catch (const DbError&) {
    }
  }
  return killed;
}

std::string IncidentRig::logs() {
  std::string all;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const std::string err = workers_[i]->err() + workers_[i]->out();
    all += "\n--- worker " + std::to_string(i) + (workers_[i]->running() ? " (running)" : " (exited)") + ":\n" +
           err.substr(err.size() > 4000 ? err.size() - 4000 : 0);
  }
  return all;
}

}  // namespace hm::test
