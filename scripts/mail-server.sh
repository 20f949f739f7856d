#!/usr/bin/env bash
# A real SMTP + IMAP server for the email connector's tests: mail-devel
# (PyPI, MIT), one unprivileged process keeping mail in memory, one mailbox
# per recipient (--multi-user; every login uses the same password).
#
#   eval "$(scripts/mail-server.sh start)"   # starts it, prints the env the tests read
#   scripts/mail-server.sh stop
#
# Ports: EARSHOT_MAIL_SMTP_PORT (default 42525, offers STARTTLS),
# EARSHOT_MAIL_SMTPS_PORT (default 42465, implicit TLS), EARSHOT_MAIL_IMAP_PORT
# (default 42143). TLS uses a self-signed certificate for 127.0.0.1 made with
# openssl in target/mail-tls (the tests trust it through the connector's
# `ca_certificate`). The venv lives in target/mail-venv and is made anew when
# its tools do not run (a moved checkout breaks their shebangs).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/mail-venv
tls=target/mail-tls
pidfile=target/mail-devel.pid
log=target/mail-devel.log
version=0.18.1
smtp_port=${EARSHOT_MAIL_SMTP_PORT:-42525}
imap_port=${EARSHOT_MAIL_IMAP_PORT:-42143}
smtps_port=${EARSHOT_MAIL_SMTPS_PORT:-42465}
password=${EARSHOT_MAIL_PASSWORD:-secret}

say() { echo "mail-server: $*" >&2; }

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

print_env() {
  echo "export EARSHOT_TEST_SMTP=127.0.0.1:$smtp_port"
  echo "export EARSHOT_TEST_IMAP=127.0.0.1:$imap_port"
  echo "export EARSHOT_TEST_MAIL_PASSWORD=$password"
  echo "export EARSHOT_TEST_SMTPS=127.0.0.1:$smtps_port"
  echo "export EARSHOT_TEST_MAIL_CA=$PWD/$tls/ca.pem"
  echo "export EARSHOT_TEST_MAIL_CERT=$PWD/$tls/cert.pem"
  echo "export EARSHOT_TEST_MAIL_KEY=$PWD/$tls/key.pem"
}

# A private CA and a certificate it signed for 127.0.0.1 (webpki refuses a
# self-signed CA certificate used as the server's own).
ensure_cert() {
  if [[ -s $tls/ca.pem && -s $tls/cert.pem && -s $tls/key.pem ]]; then
    return
  fi
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Earshot test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tls/key.pem" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 3650 -extfile "$tls/server.ext" -out "$tls/cert.pem" 2>/dev/null
}

ensure_venv() {
  if "$venv/bin/mail_devel" --version >/dev/null 2>&1; then
    return
  fi
  say "installing mail-devel $version into $venv"
  rm -rf "$venv"
  mkdir -p target
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "mail-devel==$version" >&2
}

start() {
  if running && port_open "$smtp_port" && port_open "$imap_port" && port_open "$smtps_port"; then
    say "already running (pid $(cat "$pidfile"))"
    print_env
    return
  fi
  for port in "$smtp_port" "$imap_port" "$smtps_port"; do
    if port_open "$port"; then
      say "port $port is taken by another program; set EARSHOT_MAIL_SMTP_PORT / EARSHOT_MAIL_IMAP_PORT"
      exit 1
    fi
  done
  ensure_venv
  ensure_cert
  "$venv/bin/mail_devel" --host 127.0.0.1 --multi-user --password "$password" --no-http \
    --smtp-port "$smtp_port" --imap-port "$imap_port" --smtps-port "$smtps_port" \
    --cert "$tls/cert.pem" --key "$tls/key.pem" >"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    if port_open "$smtp_port" && port_open "$imap_port" && port_open "$smtps_port"; then
      say "listening: SMTP 127.0.0.1:$smtp_port, SMTPS :$smtps_port, IMAP :$imap_port (pid $(cat "$pidfile"), log $log)"
      print_env
      return
    fi
    if ! running; then
      say "mail_devel exited; its log:"
      cat "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
  say "mail_devel did not open its ports within 20 s; its log:"
  cat "$log" >&2
  stop
  exit 1
}

stop() {
  if running; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 50); do running || break; sleep 0.1; done
    say "stopped (pid $(cat "$pidfile"))"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
