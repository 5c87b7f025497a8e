// Promises the README makes about the hm-worker binary, held through the
// binary against the stack's real MariaDB: two migrates at once, a dead-letter
// file that cannot be written, and how reactions and reads are keyed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <nlohmann/json.hpp>

#include "mysql/schema.h"
#include "support/fakes.h"
#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;
using test::ChildProcess;

const std::string kBin = HM_WORKER_BINARY;

// A scratch directory of this test process, removed afterwards.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() / ("hm-contracts-" + tag + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string lines_of(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  return all;
}

// Lines of `text` with a log level at warning or above (plain or JSON logs).
std::vector<std::string> problem_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    for (const char* level : {"warn", "error", "critical", "Error", "ERROR", "failed"}) {
      if (line.find(level) != std::string::npos) {
        out.push_back(line);
        break;
      }
    }
  }
  return out;
}

// Two (then three) `hm-worker migrate` processes started together against a
// fresh database: the named lock makes one apply the schema and the others
// find it done; none fails or complains. Several rounds, since a race is
// intermittent.
TEST(CliContractsTest, MigratesStartedTogetherAllSucceedAndTheSchemaEndsComplete) {
  test::TestDatabase db("migrate_race", false);
  const std::string name = db.name();
  const int need = mysql::required_schema_version();
  std::string all_versions;
  for (int v = 1; v <= need; ++v) all_versions += (v > 1 ? "," : "") + std::to_string(v);
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    db.execute("DROP DATABASE IF EXISTS `" + name + "`");
    db.execute("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
    db.execute("USE `" + name + "`");
    const int n = round < 2 ? 2 : 3;
    std::vector<std::unique_ptr<ChildProcess>> runs;
    for (int i = 0; i < n; ++i)
      runs.push_back(std::make_unique<ChildProcess>(kBin, std::vector<std::string>{"migrate"},
                                                    test::worker_env_map(db.options()), "migrate" + std::to_string(i)));
    int applied_all = 0;
    int found_done = 0;
    for (auto& r : runs) {
      const auto code = r->wait(60s);
      ASSERT_TRUE(code.has_value()) << "migrate still running\n" << r->out() << r->err();
      EXPECT_EQ(*code, 0) << r->out() << r->err();
      EXPECT_EQ(problem_lines(r->err()), std::vector<std::string>{}) << r->err();
      EXPECT_NE(r->out().find("schema at version " + std::to_string(need)), std::string::npos) << r->out();
      EXPECT_NE(r->out().find("index ok"), std::string::npos) << r->out();
      if (r->out().find("(applied " + all_versions + ")") != std::string::npos) ++applied_all;
      if (r->out().find("(nothing to apply)") != std::string::npos) ++found_done;
    }
    // Serialised: one applied every migration, the others found them applied.
    EXPECT_EQ(applied_all, 1);
    EXPECT_EQ(found_done, n - 1);
    EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM schema_migration"), need);
    EXPECT_EQ(db.scalar("SELECT MAX(version) FROM schema_migration"), need);
    EXPECT_EQ(db.scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
                        "TABLE_NAME IN ('message', 'message_deletion', 'message_edit', 'message_reaction', "
                        "'message_read', 'contact', 'conversation', 'media', 'reply', 'schema_migration')"),
              10);
    auto s = db.connect();
    EXPECT_TRUE(mysql::check_schema(*s).ok()) << mysql::check_schema(*s).message;
    EXPECT_TRUE(mysql::verify_message_index(*s).ok);
  }
}

// A file run whose DEAD_LETTER_PATH cannot be opened or written: every good
// delivery is still stored (also those after a bad one), the summary is
// printed, each bad delivery is named by its origin, and the run exits 1 with
// a message naming DEAD_LETTER_PATH and the problem.
TEST(CliContractsTest, UnwritableDeadLetterPathExitsOneNamingItAndTheGoodDeliveriesAreStored) {
  ScratchDir dir("dlq");
  std::filesystem::create_directories(dir.file("a-directory"));
  const std::string input = dir.file("in.jsonl");
  std::ofstream(input) << lines_of({test::text_delivery("dlq-good-1", "bir"), "{broken",
                                    test::text_delivery("dlq-good-2", "iki 🙏"),
                                    "{\"object\":\"instagram\",\"entry\":[]}",
                                    test::text_delivery("dlq-good-3", "üç")});
  // Where the file cannot be opened (no such directory, a directory) or written
  // (/dev/full: every write fails, even for root, who ignores permissions).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {dir.file("missing-dir/dead.jsonl"), "No such file or directory"},
      {dir.file("a-directory"), "Is a directory"},
      {"/dev/full", "No space left on device"},
  };
  for (const auto& [path, problem] : cases) {
    SCOPED_TRACE(path);
    test::TestDatabase db("dlq_path");
    auto env = test::worker_env_map(db.options());
    env["DEAD_LETTER_PATH"] = path;
    env["INGEST_BATCH_SIZE"] = "1";  // one delivery at a time: a stop at the bad one would leave the rest
    env["QUEUE_READ_COUNT"] = "1";
    ChildProcess run(kBin, {"run", "--role", "ingest", "--source", "file:" + input}, env, "dlq-run");
    const auto code = run.wait(60s);
    ASSERT_TRUE(code.has_value()) << run.err();
    EXPECT_EQ(*code, 1) << run.out() << run.err();
    EXPECT_NE(run.err().find("DEAD_LETTER_PATH: cannot"), std::string::npos) << run.err();
    EXPECT_NE(run.err().find("'" + path + "'"), std::string::npos) << run.err();
    EXPECT_NE(run.err().find(problem), std::string::npos) << run.err();
    EXPECT_NE(run.err().find("file:" + input + ":2"), std::string::npos) << run.err();
    EXPECT_NE(run.err().find("file:" + input + ":4"), std::string::npos) << run.err();
    EXPECT_NE(run.out().find("deliveries=5 inserted=3 duplicates=0 skipped=0 dead_lettered=0"), std::string::npos)
        << run.out();
    test::Rows expected = {{"dlq-good-1", "bir"}, {"dlq-good-2", "iki 🙏"}, {"dlq-good-3", "üç"}};
    EXPECT_EQ(db.query("SELECT ig_message_id, text FROM message ORDER BY ig_message_id"), expected);
  }
}

// A reaction or read receipt delivery built from the real payload shapes
// (tests/fixtures/payloads, as in /work/shared/payloads).
nlohmann::json event_delivery(const char* fixture, const std::string& account, const std::string& sender,
                              long long timestamp_ms) {
  auto j = nlohmann::json::parse(test::fixture(fixture));
  j["entry"][0]["id"] = account;
  auto& ev = j["entry"][0]["messaging"][0];
  ev["sender"]["id"] = sender;
  ev["recipient"]["id"] = account;
  ev["timestamp"] = timestamp_ms;
  return j;
}

std::string reaction(const std::string& mid, const std::string& sender, long long ts, const std::string& action,
                     const std::string& emoji = "❤️") {
  auto j = event_delivery("reaction.json", "17841405309211844", sender, ts);
  auto& r = j["entry"][0]["messaging"][0]["reaction"];
  r["mid"] = mid;
  r["action"] = action;
  r["emoji"] = emoji;
  if (action == "unreact") {
    r.erase("reaction");
    r.erase("emoji");
  }
  return j.dump();
}

std::string read_receipt(const std::string& account, const std::string& reader, const std::string& mid, long long ts) {
  auto j = event_delivery("seen.json", account, reader, ts);
  j["entry"][0]["messaging"][0]["read"]["mid"] = mid;
  return j.dump();
}

// Reactions are keyed (mid, sender, time, action) and reads (account,
// reader, mid): events differing in any one part of the key are rows of their
// own; the same event delivered twice is one row.
TEST(CliContractsTest, ReactionsAndReadsWithDistinctKeysAreDistinctRowsAndRepeatsAreOne) {
  test::TestDatabase db("keys");
  ScratchDir dir("keys");
  const long long t = 1768398028968LL;
  const std::vector<std::string> lines = {
      reaction("mid-A", "111", t, "react"),
      reaction("mid-B", "111", t, "react"),       // another message
      reaction("mid-A", "222", t, "react"),       // another sender
      reaction("mid-A", "111", t + 1, "react", "😂"),  // a millisecond later
      reaction("mid-A", "111", t, "unreact"),     // the other action
      reaction("mid-A", "111", t, "react"),       // the first again: no new row
      read_receipt("17841405309211844", "111", "mid-A", t),
      read_receipt("17841405309211844", "111", "mid-B", t),  // another message
      read_receipt("17841405309211844", "222", "mid-A", t),  // another reader
      read_receipt("99999999999999999", "111", "mid-A", t),  // another account
      read_receipt("17841405309211844", "111", "mid-A", t),  // the first again: no new row
  };
  const std::string input = dir.file("events.jsonl");
  std::ofstream(input) << lines_of(lines);
  auto env = test::worker_env_map(db.options());
  env["DEAD_LETTER_PATH"] = dir.file("dead.jsonl");
  for (const char* batch : {"1", "100"}) {
    env["INGEST_BATCH_SIZE"] = batch;
    ChildProcess run(kBin, {"run", "--role", "ingest", "--source", "file:" + input}, env, "keys");
    ASSERT_EQ(run.wait(60s), 0) << run.err();
    EXPECT_NE(run.out().find("deliveries=11 inserted=0 duplicates=0 skipped=0 dead_lettered=0"), std::string::npos)
        << run.out();
  }
  const std::string ms = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01', event_time) DIV 1000";
  const auto reactions = db.query("SELECT ig_message_id, sender_id, " + ms + ", action, emoji FROM message_reaction");
  const std::set<std::vector<std::optional<std::string>>> want_reactions = {
      {"mid-A", "111", std::to_string(t), "react", "❤️"},  {"mid-B", "111", std::to_string(t), "react", "❤️"},
      {"mid-A", "222", std::to_string(t), "react", "❤️"},  {"mid-A", "111", std::to_string(t + 1), "react", "😂"},
      {"mid-A", "111", std::to_string(t), "unreact", ""},
  };
  EXPECT_EQ(reactions.size(), want_reactions.size());
  EXPECT_EQ(std::set<std::vector<std::optional<std::string>>>(reactions.begin(), reactions.end()), want_reactions);
  const auto reads = db.query("SELECT account_id, reader_id, ig_message_id FROM message_read");
  const std::set<std::vector<std::optional<std::string>>> want_reads = {
      {"17841405309211844", "111", "mid-A"},
      {"17841405309211844", "111", "mid-B"},
      {"17841405309211844", "222", "mid-A"},
      {"99999999999999999", "111", "mid-A"},
  };
  EXPECT_EQ(reads.size(), want_reads.size());
  EXPECT_EQ(std::set<std::vector<std::optional<std::string>>>(reads.begin(), reads.end()), want_reads);
}

}  // namespace
}  // namespace hm
