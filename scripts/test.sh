#!/usr/bin/env bash
# Installs what the tests need and runs all of them: Rust unit, store
# (SQLite and PostgreSQL), end-to-end tests against the real binary, and the
# browser tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The email end-to-end test runs a real IMAP (dovecot) and SMTP (OpenSMTPD) server.
[ -x /usr/sbin/dovecot ] || need_apt+=(dovecot-imapd dovecot-lmtpd)
# Its submission service is the TLS (SMTPS, STARTTLS) front of the SMTP server.
[ -x /usr/lib/dovecot/submission ] || need_apt+=(dovecot-submissiond)
[ -x /usr/sbin/smtpd ] || need_apt+=(opensmtpd)
# Voice tests: SIPp and baresip as real SIP peers, espeak-ng for prompts.
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need_apt+=(baresip)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} from Debian"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "==> web: install and build (the binary embeds web/dist)"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)

echo "==> rust: build and test (SQLite and PostgreSQL at ${SWITCHBOARD_TEST_PG:-postgres://127.0.0.1:5432/test})"
cargo build -p switchboard -p switchboard-bench --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

echo "==> load harness smoke run (seconds, no thresholds: it fails only on errors or lost messages)"
"$CARGO_TARGET_DIR/debug/switchboard-load" smoke --bin "$CARGO_TARGET_DIR/debug/switchboard"

echo "==> browser tests (Chromium via playwright-core)"
(cd web && SWITCHBOARD_BIN="$CARGO_TARGET_DIR/debug/switchboard" npm run test:e2e)
