#!/usr/bin/env bash
# Builds the web UI and the server, then starts Switchboard with a seeded
# demo workspace on SQLite. Prints the URL and the logins.
# Extra arguments go to `switchboard demo` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
echo "==> building the web UI (npm ci && npm run build)"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)
echo "==> building the server (cargo build --release)"
cargo build --release -p switchboard
echo "==> starting"
exec "$target/release/switchboard" demo "$@"
