// Least privilege: `migrate` runs as a DDL-capable account (DB_MIGRATE_USER),
// the four roles and doctor as an account holding exactly
//   GRANT SELECT, INSERT, UPDATE, DELETE ON <db>.*
// and migrate as that account fails naming the privilege it lacks.
#include <unistd.h>

#include "integration/commands/worker_process_fixture.h"

namespace hm {
namespace {

class LeastPrivilegeTest : public WorkerProcessTest {
 protected:
  LeastPrivilegeTest() : WorkerProcessTest(/*migrate=*/false) {}

  void SetUp() override {
    WorkerProcessTest::SetUp();
    user_ = "hm_app_" + std::to_string(::getpid());
    for (const char* host : {"127.0.0.1", "localhost"}) {
      const std::string account = "'" + user_ + "'@'" + host + "'";
      db_.execute("DROP USER IF EXISTS " + account);
      db_.execute("CREATE USER " + account + " IDENTIFIED BY '" + kPassword + "'");
      db_.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON `" + db_.name() + "`.* TO " + account);
    }
  }
  void TearDown() override {
    for (const char* host : {"127.0.0.1", "localhost"}) {
      try {
        db_.execute("DROP USER IF EXISTS '" + user_ + "'@'" + host + "'");
      } catch (...) {
      }
    }
    WorkerProcessTest::TearDown();
  }

  // The workers' account: DML only.
  std::map<std::string, std::string> app_account() const { return {{"DB_USER", user_}, {"DB_PASSWORD", kPassword}}; }

  // `hm-worker COMMAND...` with the test database, as `account`.
  std::unique_ptr<ChildProcess> hm_worker(const std::vector<std::string>& args,
                                          const std::map<std::string, std::string>& account, const std::string& name) {
    auto env = test::worker_env_map(db_.options());
    for (const auto& [k, v] : account) env[k] = v;
    return std::make_unique<ChildProcess>(kBin, args, env, name);
  }

  static constexpr const char* kPassword = "app-only-dml";
  std::string user_;
};

TEST_F(LeastPrivilegeTest, MigrateAsTheWorkersAccountFailsNamingTheMissingPrivilege) {
  auto migrate = hm_worker({"migrate"}, app_account(), "lp-migrate-app");
  ASSERT_EQ(migrate->wait(60s), std::optional<int>(1)) << migrate->out() << migrate->err();
  EXPECT_NE(migrate->err().find("CREATE command denied to user '" + user_ + "'"), std::string::npos) << migrate->err();
  EXPECT_NE(migrate->err().find("DB_MIGRATE_USER"), std::string::npos) << migrate->err();
  EXPECT_EQ(migrate->err().find(kPassword), std::string::npos);
  EXPECT_EQ(db_.scalar("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '" + db_.name() + "'"), 0);
}

TEST_F(LeastPrivilegeTest, FourRolesAndDoctorRunWithSelectInsertUpdateDeleteOnly) {
  // migrate as the DDL account (the stack's), the workers keep DB_USER.
  auto account = app_account();
  account["DB_MIGRATE_USER"] = db_.options().user;
  account["DB_MIGRATE_PASSWORD"] = db_.options().password;
  auto migrate = hm_worker({"migrate"}, account, "lp-migrate-ddl");
  ASSERT_EQ(migrate->wait(60s), std::optional<int>(0)) << migrate->out() << migrate->err();

  four_roles_end_to_end(app_account());

  // doctor as the workers' account: every check answers; lock waits need
  // PROCESS, which it says instead of failing.
  auto doctor = hm_worker({"doctor", "--json"}, app_account(), "lp-doctor");
  const auto code = doctor->wait(60s);
  ASSERT_TRUE(code == std::optional<int>(0) || code == std::optional<int>(3)) << doctor->out() << doctor->err();
  const auto report = nlohmann::json::parse(doctor->out());
  for (const auto& f : report["findings"]) {
    const std::string check = f["check"].get<std::string>();
    if (check == "lock_waits") {
      EXPECT_NE(f["detail"].get<std::string>().find("PROCESS"), std::string::npos) << f.dump();
    } else if (check != "connections") {
      EXPECT_FALSE(f["attention"].get<bool>()) << f.dump();
    }
  }
}

}  // namespace
}  // namespace hm
