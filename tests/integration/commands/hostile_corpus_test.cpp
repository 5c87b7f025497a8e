// tests/corpus/hostile: every hostile delivery is stored correctly or
// dead-lettered with a reason, through the file source and through the
// daemon's stream in one batch; the worker never crashes or stops.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "redis/stream_admin.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kCorpus = fs::path(HM_FIXTURES_DIR) / ".." / "corpus" / "hostile";

struct Case {
  std::string file;
  std::string line;      // the delivery, raw bytes
  std::string expected;  // stored:<mid>, dead:<fragment of the reason>, or done
};

std::vector<Case> load_corpus() {
  std::ifstream e(kCorpus / "expected.json");
  const auto expected = nlohmann::json::parse(e);
  std::vector<Case> out;
  for (const auto& [file, outcome] : expected.items()) {
    std::ifstream in(kCorpus / file, std::ios::binary);
    std::string line;
    std::getline(in, line);
    out.push_back({file, line, outcome.get<std::string>()});
  }
  return out;
}

// The text a stored case should have, byte for byte.
std::optional<std::string> expected_text(const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  const auto& m = j["entry"][0]["messaging"][0]["message"];
  if (!m.contains("text")) return std::nullopt;
  return m["text"].get<std::string>();
}

void check(test::TestDatabase& db, const std::vector<Case>& cases, const std::vector<std::string>& reasons_by_case) {
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string& reason = reasons_by_case[i];
    if (c.expected.rfind("stored:", 0) == 0) {
      const std::string mid = c.expected.substr(7);
      EXPECT_TRUE(reason.empty()) << c.file << " was dead-lettered: " << reason;
      auto s = db.connect();
      const auto rows = s->query("SELECT text FROM message WHERE ig_message_id = ?", {mid});
      ASSERT_FALSE(rows.empty()) << c.file << ": " << mid << " is not stored";
      if (auto text = expected_text(c.line)) {
        EXPECT_EQ(rows[0].at(0).value_or(""), *text) << c.file;
      }
    } else if (c.expected.rfind("dead:", 0) == 0) {
      EXPECT_NE(reason.find(c.expected.substr(5)), std::string::npos) << c.file << ": reason was '" << reason << "'";
    } else {
      EXPECT_TRUE(reason.empty()) << c.file << ": " << reason;
    }
  }
}

TEST(HostileCorpusTest, FileSourceStoresOrDeadLettersEachWithAReason) {
  test::TestDatabase db("hostile_file");
  const auto cases = load_corpus();
  ASSERT_GE(cases.size(), 20u);
  const std::string input = "/tmp/hm-hostile-" + std::to_string(::getpid()) + ".jsonl";
  const std::string dlq = input + ".dead";
  {
    std::ofstream out(input, std::ios::binary);
    for (const auto& c : cases) out << c.line << "\n";
  }
  std::remove(dlq.c_str());
  const auto r = test::run_command(test::worker_env(db.options()) + "DEAD_LETTER_PATH=" + dlq + " " + HM_WORKER_BINARY +
                                   " run --role ingest --source file:" + input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> reasons(cases.size());
  std::ifstream in(dlq);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    const std::string origin = j["origin"];
    const std::size_t n = std::stoul(origin.substr(origin.rfind(':') + 1));
    reasons.at(n - 1) = j["reason"];
  }
  check(db, cases, reasons);
  std::remove(input.c_str());
  std::remove(dlq.c_str());
}

TEST(HostileCorpusTest, TheDaemonSurvivesTheWholeCorpusInOneBatch) {
  test::TestDatabase db("hostile_stream");
  const auto cases = load_corpus();
  const std::string stream = "hm:test:hostile:" + std::to_string(::getpid());
  redis::StreamNames names{stream, "hm-worker", stream + ":dead", stream + ":"};
  redis::StreamAdmin admin(redis::parse_redis_url(test::stack_redis_url()), names);
  std::map<std::string, std::size_t> index_of_entry;
  for (std::size_t i = 0; i < cases.size(); ++i) index_of_entry[admin.enqueue_one(cases[i].line, 1)] = i;
  auto env = test::worker_env_map(db.options());
  env["QUEUE_STREAM"] = stream;
  env["QUEUE_STREAM_PREFIX"] = stream + ":";
  env["INGEST_BATCH_SIZE"] = "100";
  env["INGEST_BATCH_LINGER_MS"] = "200";
  env["METRICS_PORT"] = "0";
  test::ChildProcess w(HM_WORKER_BINARY, {"run", "--role", "ingest"}, env, "hostile");
  ASSERT_TRUE(test::eventually([&] { return admin.lag() == 0 && admin.pending() == 0; }, 60s)) << w.out();
  EXPECT_TRUE(w.running()) << w.out();
  std::vector<std::string> reasons(cases.size());
  for (const auto& d : admin.dead_letters(1000)) reasons.at(index_of_entry.at(d.entry_id)) = d.reason;
  check(db, cases, reasons);
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(20s), 0) << w.out();
  for (const char* suffix : {"", ":dead", ":enrich", ":media", ":reply"})
    admin.connection().command({"DEL", stream + suffix});
}

}  // namespace
}  // namespace hm
