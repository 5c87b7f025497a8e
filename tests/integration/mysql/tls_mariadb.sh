#!/usr/bin/env bash
# A throwaway MariaDB for the TLS tests, under DIR (never a system service):
#
#   tls_mariadb.sh certs DIR            make two CAs (ca, other-ca) and a server
#                                       certificate signed by ca for the name localhost
#                                       only (127.0.0.1 is not in it), with openssl
#   tls_mariadb.sh start DIR PORT tls   start a MariaDB on 127.0.0.1:PORT with
#                                       that certificate (tls) or without TLS
#                                       (plain); user hm / hm-local-only has all
#                                       privileges; database hm exists
#   tls_mariadb.sh stop DIR             stop it
set -euo pipefail

cmd="$1"; DIR="$2"
mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
mkdir -p "$DIR"
DATA="$DIR/data"; SOCK="$DIR/mariadb.sock"; PIDFILE="$DIR/mariadb.pid"; LOG="$DIR/error.log"
OS_USER="$(id -un)"

make_ca() {  # name
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hm test $1" \
    -keyout "$DIR/$1.key" -out "$DIR/$1.pem" >/dev/null 2>&1
}

certs() {
  make_ca ca
  make_ca other-ca
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$DIR/server.key" -out "$DIR/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$DIR/server.ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 2 -extfile "$DIR/server.ext" -out "$DIR/server.pem" >/dev/null 2>&1
  # A client certificate, for DB_SSL_CERT / DB_SSL_KEY.
  openssl req -newkey rsa:2048 -nodes -subj "/CN=hm" \
    -keyout "$DIR/client.key" -out "$DIR/client.csr" >/dev/null 2>&1
  openssl x509 -req -in "$DIR/client.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 2 -out "$DIR/client.pem" >/dev/null 2>&1
}

answers() { mariadb-admin --no-defaults --protocol=socket --socket="$SOCK" -uroot --connect-timeout=2 ping >/dev/null 2>&1; }

start() {  # port tls|plain
  local port="$1" mode="$2" ssl=()
  if [[ ! -d "$DATA/mysql" ]]; then
    rm -rf "$DATA"
    mariadb-install-db --no-defaults --datadir="$DATA" --user="$OS_USER" \
      --auth-root-authentication-method=normal --skip-test-db >"$DIR/install.log" 2>&1 \
      || { cat "$DIR/install.log" >&2; exit 1; }
  fi
  if [[ "$mode" == tls ]]; then
    ssl=(--ssl-ca="$DIR/ca.pem" --ssl-cert="$DIR/server.pem" --ssl-key="$DIR/server.key")
  else
    ssl=(--skip-ssl)
  fi
  nohup mariadbd --no-defaults --datadir="$DATA" --socket="$SOCK" --port="$port" \
    --bind-address=127.0.0.1 --pid-file="$PIDFILE" --log-error="$LOG" --user="$OS_USER" \
    --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=16M --performance-schema=OFF "${ssl[@]}" \
    >"$DIR/stdout.log" 2>&1 </dev/null &
  for i in $(seq 1 120); do
    answers && break
    if (( i == 120 )); then echo "MariaDB did not answer within 60 s" >&2; tail -20 "$LOG" >&2 || true; exit 1; fi
    sleep 0.5
  done
  mariadb --no-defaults --protocol=socket --socket="$SOCK" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS hm CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'hm'@'127.0.0.1' IDENTIFIED BY 'hm-local-only';
GRANT ALL PRIVILEGES ON *.* TO 'hm'@'127.0.0.1';
SQL
}

stop() {
  local pid=""
  [[ -f "$PIDFILE" ]] && pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if answers; then mariadb-admin --no-defaults --protocol=socket --socket="$SOCK" -uroot shutdown >/dev/null 2>&1 || true; fi
  if [[ -n "$pid" ]]; then
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" || true
  fi
  rm -f "$PIDFILE"
}

case "$cmd" in
  certs) certs ;;
  start) start "$3" "$4" ;;
  stop) stop ;;
  *) echo "usage: $0 certs|start|stop DIR [PORT tls|plain]" >&2; exit 2 ;;
esac
