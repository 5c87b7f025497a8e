// TLS to MariaDB (DB_SSL_*): a throwaway MariaDB with a CA and a server
// certificate made by openssl at the start of the suite
// (tests/integration/mysql/tls_mariadb.sh; the certificate names "localhost" only),
// and the stack's own server, which has no TLS, as the plain server.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/process.h"
#include "support/test_db.h"

namespace hm {
namespace {

using namespace std::chrono_literals;

const std::string kBin = HM_WORKER_BINARY;

class MysqlTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::source_dir() + "/.run/tls-test-" + std::to_string(::getpid());
    port_ = test::free_port();
    for (const std::string& args : {"certs " + dir_, "start " + dir_ + " " + std::to_string(port_) + " tls"}) {
      const auto r = test::run_command(script() + " " + args);
      ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.out << r.err;
    }
  }
  static void TearDownTestSuite() {
    test::run_command(script() + " stop " + dir_);
    std::filesystem::remove_all(dir_);
  }
  static std::string script() { return test::source_dir() + "/tests/integration/mysql/tls_mariadb.sh"; }
  static std::string file(const std::string& name) { return dir_ + "/" + name; }

  // The TLS server, as the stack's user; the certificate names "localhost".
  static DbOptions tls_server(SslMode mode, const std::string& host = "localhost") {
    DbOptions o;
    o.host = host;
    o.port = port_;
    o.name = "hm";
    o.user = "hm";
    o.password = "hm-local-only";
    o.connect_timeout = 5s;
    o.ssl_mode = mode;
    if (mode == SslMode::kVerifyCa || mode == SslMode::kVerifyIdentity) o.ssl_ca = file("ca.pem");
    return o;
  }
  // The stack's server: no TLS.
  static DbOptions plain_server(SslMode mode) {
    DbOptions o = test::stack_db_options();
    o.ssl_mode = mode;
    if (mode == SslMode::kVerifyCa || mode == SslMode::kVerifyIdentity) o.ssl_ca = file("ca.pem");
    return o;
  }
  static std::string cipher_of(mysql::Session& s) {
    return s.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'").at(0).at(1).value_or("");
  }
  // The DbError connecting with `o` raises (code 0 and "connected" when none).
  static DbError connect_error(const DbOptions& o) {
    try {
      mysql::Session::connect(test::driver(), o);
    } catch (const DbError& e) {
      return e;
    }
    return DbError(DbErrorKind::kPermanent, 0, "connected");
  }
  // hm-worker's environment for the TLS server, or the stack's.
  static std::map<std::string, std::string> env_for(const DbOptions& o, const std::string& mode) {
    auto env = test::worker_env_map(o);
    env["DB_SSL_MODE"] = mode;
    env["DB_SSL_CA"] = file("ca.pem");
    env["DB_CONNECT_TIMEOUT"] = "5";
    env["METRICS_PORT"] = "0";
    env["QUEUE_STREAM"] = "hm:test:tls:" + std::to_string(::getpid());
    return env;
  }

  static inline std::string dir_;
  static inline int port_ = 0;
};

TEST_F(MysqlTlsTest, RequiredGivesAnEncryptedSession) {
  auto s = mysql::Session::connect(test::driver(), tls_server(SslMode::kRequired, "127.0.0.1"));
  EXPECT_FALSE(cipher_of(*s).empty());
  EXPECT_EQ(s->tls_cipher(), cipher_of(*s));
  EXPECT_EQ(s->transport_description(), "TLS " + cipher_of(*s));
}

TEST_F(MysqlTlsTest, PreferredEncryptsWhenTheServerCanAndDisabledNever) {
  auto preferred = mysql::Session::connect(test::driver(), tls_server(SslMode::kPreferred));
  EXPECT_FALSE(cipher_of(*preferred).empty());
  auto disabled = mysql::Session::connect(test::driver(), tls_server(SslMode::kDisabled));
  EXPECT_EQ(cipher_of(*disabled), "");
  EXPECT_EQ(disabled->transport_description(), "not encrypted");
  // PREFERRED against a server without TLS: in clear, as the mysql client.
  auto plain = mysql::Session::connect(test::driver(), plain_server(SslMode::kPreferred));
  EXPECT_EQ(plain->tls_cipher(), "");
}

TEST_F(MysqlTlsTest, VerifyCaAcceptsTheServersCaAndRefusesAnother) {
  auto s = mysql::Session::connect(test::driver(), tls_server(SslMode::kVerifyCa, "127.0.0.1"));
  EXPECT_FALSE(cipher_of(*s).empty());
  DbOptions other = tls_server(SslMode::kVerifyCa, "127.0.0.1");
  other.ssl_ca = file("other-ca.pem");
  const DbError e = connect_error(other);
  EXPECT_EQ(e.code(), mysql::kTlsConnectionError) << e.what();
  EXPECT_NE(std::string(e.what()).find("DB_SSL_MODE=VERIFY_CA"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("other-ca.pem"), std::string::npos) << e.what();
}

TEST_F(MysqlTlsTest, VerifyIdentityRefusesAHostTheCertificateDoesNotName) {
  auto s = mysql::Session::connect(test::driver(), tls_server(SslMode::kVerifyIdentity, "localhost"));
  EXPECT_FALSE(cipher_of(*s).empty());
  // Same server, same CA, but 127.0.0.1 is not in the certificate.
  const DbError e = connect_error(tls_server(SslMode::kVerifyIdentity, "127.0.0.1"));
  EXPECT_EQ(e.code(), mysql::kTlsConnectionError) << e.what();
  EXPECT_NE(std::string(e.what()).find("does not name the host '127.0.0.1'"), std::string::npos) << e.what();
  // VERIFY_CA does not look at the name.
  EXPECT_NO_THROW(mysql::Session::connect(test::driver(), tls_server(SslMode::kVerifyCa, "127.0.0.1")));
}

TEST_F(MysqlTlsTest, APlainServerIsRefusedFromRequiredUp) {
  // Connector/C++ itself would connect in clear for REQUIRED and VERIFY_CA.
  for (SslMode mode : {SslMode::kRequired, SslMode::kVerifyCa, SslMode::kVerifyIdentity}) {
    const DbError e = connect_error(plain_server(mode));
    EXPECT_EQ(e.code(), mysql::kTlsConnectionError) << to_string(mode) << ": " << e.what();
    EXPECT_TRUE(e.retryable()) << "at runtime a TLS failure waits like any connect failure";
    EXPECT_NE(std::string(e.what()).find(std::string("DB_SSL_MODE=") + to_string(mode)), std::string::npos) << e.what();
  }
  EXPECT_NE(std::string(connect_error(plain_server(SslMode::kRequired)).what()).find("not encrypted"),
            std::string::npos);
}

TEST_F(MysqlTlsTest, AClientCertificateReachesAnAccountThatRequiresX509) {
  const auto r = test::run_command("mariadb --no-defaults --protocol=socket --socket=" + file("mariadb.sock") +
                                   " -uroot -e \"CREATE USER IF NOT EXISTS 'hm_x509'@'127.0.0.1' IDENTIFIED BY "
                                   "'x509-pw' REQUIRE X509; GRANT SELECT ON hm.* TO 'hm_x509'@'127.0.0.1'\"");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  DbOptions o = tls_server(SslMode::kVerifyCa, "127.0.0.1");
  o.user = "hm_x509";
  o.password = "x509-pw";
  EXPECT_EQ(connect_error(o).code(), 1045);  // no certificate: refused
  o.ssl_cert = file("client.pem");
  o.ssl_key = file("client.key");
  auto s = mysql::Session::connect(test::driver(), o);
  EXPECT_FALSE(cipher_of(*s).empty());
}

TEST_F(MysqlTlsTest, RunAndDoctorExitOneAtStartWhenTheServerCannotMeetTheMode) {
  // Before DB_SSL_MODE existed the worker connected in clear and ran.
  auto env = env_for(plain_server(SslMode::kPreferred), "REQUIRED");
  test::ChildProcess run(kBin, {"run", "--role", "ingest"}, env, "tls-run-plain");
  ASSERT_EQ(run.wait(30s), std::optional<int>(1)) << run.out() << run.err();
  EXPECT_NE(run.err().find("DB_SSL_MODE=REQUIRED but the session is not encrypted"), std::string::npos) << run.err();
  test::ChildProcess doctor(kBin, {"doctor"}, env, "tls-doctor-plain");
  ASSERT_EQ(doctor.wait(30s), std::optional<int>(1)) << doctor.out() << doctor.err();
  EXPECT_NE(doctor.err().find("not encrypted"), std::string::npos) << doctor.err();
  // A certificate that does not name the host: exit 1 at start too.
  test::ChildProcess wrong_name(kBin, {"run", "--role", "ingest"},
                                env_for(tls_server(SslMode::kPreferred, "127.0.0.1"), "VERIFY_IDENTITY"), "tls-run-name");
  ASSERT_EQ(wrong_name.wait(30s), std::optional<int>(1)) << wrong_name.out() << wrong_name.err();
  EXPECT_NE(wrong_name.err().find("does not name the host '127.0.0.1'"), std::string::npos) << wrong_name.err();
}

TEST_F(MysqlTlsTest, AServerThatComesUpWithoutTlsAfterStartLeavesTheWorkerUnreadyNeverInClear) {
  // Down at start: the worker waits (the incident behaviour). Then a server
  // without TLS appears on that port: still unready, saying why.
  const std::string plain_dir = dir_ + "-plain";
  DbOptions o = tls_server(SslMode::kPreferred, "127.0.0.1");
  o.port = test::free_port();
  auto env = env_for(o, "REQUIRED");
  const int metrics = test::free_port();
  env["METRICS_PORT"] = std::to_string(metrics);
  test::ChildProcess run(kBin, {"run", "--role", "ingest"}, env, "tls-run-later");
  ASSERT_TRUE(test::eventually([&] { return run.out().find("database not ready at start") != std::string::npos; }, 30s))
      << run.out() << run.err();
  const auto r = test::run_command(script() + " start " + plain_dir + " " + std::to_string(o.port) + " plain");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto unready_for_tls = [&] {
    const auto ready = test::http_get(metrics, "/readyz");
    return ready.status == 503 && ready.body.find("DB_SSL_MODE=REQUIRED but the session is not encrypted") != std::string::npos;
  };
  EXPECT_TRUE(test::eventually(unready_for_tls, 30s)) << test::http_get(metrics, "/readyz").body << run.out();
  EXPECT_TRUE(run.running());
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(30s), std::optional<int>(0)) << run.out() << run.err();
  test::run_command(script() + " stop " + plain_dir);
  std::filesystem::remove_all(plain_dir);
}

TEST_F(MysqlTlsTest, MigrateDoctorAndRunOverVerifiedTls) {
  const auto env = env_for(tls_server(SslMode::kPreferred, "localhost"), "VERIFY_IDENTITY");
  test::ChildProcess migrate(kBin, {"migrate"}, env, "tls-migrate");
  ASSERT_EQ(migrate.wait(60s), std::optional<int>(0)) << migrate.out() << migrate.err();
  test::ChildProcess doctor(kBin, {"doctor", "--json"}, env, "tls-doctor");
  ASSERT_TRUE(doctor.wait(30s).has_value()) << doctor.err();
  const auto report = nlohmann::json::parse(doctor.out());
  EXPECT_TRUE(report["tls"]["encrypted"].get<bool>()) << doctor.out();
  EXPECT_FALSE(report["tls"]["cipher"].get<std::string>().empty());
  bool tls_finding = false;
  for (const auto& f : report["findings"])
    if (f["check"] == "tls") tls_finding = f["detail"].get<std::string>().find("DB_SSL_MODE=VERIFY_IDENTITY") != std::string::npos;
  EXPECT_TRUE(tls_finding) << doctor.out();
  test::ChildProcess run(kBin, {"run", "--role", "ingest"}, env, "tls-run");
  EXPECT_TRUE(test::eventually([&] { return run.out().find("database ready (TLS ") != std::string::npos; }, 30s))
      << run.out() << run.err();
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(30s), std::optional<int>(0)) << run.out() << run.err();
}

TEST_F(MysqlTlsTest, BadTlsSettingsExitTwoNamingTheVariable) {
  auto env = env_for(tls_server(SslMode::kPreferred), "SOMETIMES");
  test::ChildProcess bad_mode(kBin, {"doctor"}, env, "tls-bad-mode");
  EXPECT_EQ(bad_mode.wait(20s), std::optional<int>(2));
  EXPECT_NE(bad_mode.err().find("DB_SSL_MODE"), std::string::npos) << bad_mode.err();
  env["DB_SSL_MODE"] = "VERIFY_CA";
  env["DB_SSL_CA"] = dir_ + "/missing-ca.pem";
  test::ChildProcess missing_ca(kBin, {"run", "--role", "ingest"}, env, "tls-missing-ca");
  EXPECT_EQ(missing_ca.wait(20s), std::optional<int>(2));
  EXPECT_NE(missing_ca.err().find("DB_SSL_CA"), std::string::npos) << missing_ca.err();
}

}  // namespace
}  // namespace hm
