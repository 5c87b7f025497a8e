#pragma once
// What every MySQL session gets: where to connect and the session settings
// applied right after connecting. Plain values, no vendor types.

#include <chrono>
#include <string>

namespace hm {

enum class IsolationLevel { kReadUncommitted, kReadCommitted, kRepeatableRead, kSerializable };
// "READ COMMITTED" (the SQL spelling).
const char* to_sql(IsolationLevel level);
// "READ-COMMITTED" (the spelling of @@transaction_isolation).
const char* to_server_name(IsolationLevel level);

// DB_SSL_MODE: how much TLS a connection must have. The names and meanings
// are the MySQL client's (--ssl-mode); each mode includes the ones above it.
enum class SslMode {
  kDisabled,        // never encrypt
  kPreferred,       // encrypt when the server offers TLS, else connect in clear
  kRequired,        // encrypted or no connection; the certificate is not checked
  kVerifyCa,        // REQUIRED, and the server's certificate chains to ssl_ca
  kVerifyIdentity,  // VERIFY_CA, and the certificate names the host connected to
};
// "VERIFY_CA" (the MySQL client's spelling).
const char* to_string(SslMode mode);

// How to reach the database and what every pooled session gets.
struct DbOptions {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string socket;  // unix socket path; when set, host and port are not used
  std::string name = "hm";
  std::string user = "hm";
  std::string password;  // secret
  // Seconds a new TCP connection may take to be established.
  std::chrono::seconds connect_timeout{10};
  // Client read and write timeouts, seconds (DB_QUERY_TIMEOUT). On MariaDB the
  // same bound is set on the server as max_statement_time.
  std::chrono::seconds query_timeout{30};
  // Session innodb_lock_wait_timeout, seconds: bounds lock waits on the server,
  // where a client-side timeout alone would leave the statement running.
  std::chrono::seconds lock_wait_timeout{5};
  IsolationLevel isolation = IsolationLevel::kReadCommitted;
  // TLS (DB_SSL_*). PREFERRED, as the mysql client: encrypted whenever the
  // server can, without breaking a server that cannot. A unix socket never
  // carries TLS (MariaDB has none there): it counts as secure for REQUIRED
  // and is refused for VERIFY_* at configuration time.
  SslMode ssl_mode = SslMode::kPreferred;
  std::string ssl_ca;    // PEM file of the CA(s) the server's certificate must chain to; VERIFY_* need it
  std::string ssl_cert;  // PEM client certificate, for accounts that REQUIRE X509; with ssl_key
  std::string ssl_key;   // its private key
};

}  // namespace hm
