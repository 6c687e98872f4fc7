#!/usr/bin/env bash
# bench/voice/run.sh — voice capacity benchmark of the built-in PBX with SIPp
# (issue 7: "step up calls per second and concurrent calls with RTP until
# failures exceed 0.1 %"; results in docs/BENCHMARKS.md, section "Voice:
# concurrent recorded calls and call rate (SIPp)").
#
# Usage:  bench/voice/run.sh [path/to/switchboard]
#         (default $CARGO_TARGET_DIR/release/switchboard — use a RELEASE build)
#
# What it does, all on 127.0.0.1:
#  1. starts `switchboard demo` on a fresh temp data dir (SQLite) with
#     SWITCHBOARD_SIP_LISTEN=127.0.0.1:<free port>, SWITCHBOARD_DEMO_CHANNELS=off
#     and --rtp-ports $RTP_PORTS;
#  2. configures it over the HTTP API as admin@demo.test: voice settings with
#     recording on and a max queue wait far beyond any hold, a voice inbox with
#     one number whose default team is Support and no IVR — so every call is
#     answered by the PBX at once, waits in the queue (announcement, then
#     comfort noise; no agent is registered) and is recorded (stereo WAV into
#     the attachment store at hang-up);
#  3. runs SIPp as UAC (bench/voice/caller_rtp.xml: each call streams G.711
#     A-law at 50 packets/s with rtp_stream for its whole life, the PBX sends
#     50 packets/s back) in two series of steps, each stopping at the first
#     step whose failures exceed 0.1 % ($MAX_FAIL_PCT):
#       a. call rate:   CPS in $CPS_STEPS, $CPS_SECS s of arrivals each, every
#                       call held $CPS_HOLD_MS ms (so ~CPS×hold/1000 are up);
#       b. concurrency: N in $CONC_STEPS calls started at $CONC_RATE/s and each
#                       held until all N have been up together for
#                       $CONC_STEADY_S s;
#     a call fails when SIPp counts it failed (timeout, 5xx, an unexpected BYE
#     from the PBX…) or it never completed before the step's time bound;
#  4. samples the server every second (/proc/PID/stat utime+stime, RSS, open
#     sockets = 2 UDP sockets per live call, open fds) and reports per step: calls ok/failed,
#     failure %, server CPU (cores) over the steady window, CPU per call
#     (cores / concurrent calls), peak RSS, SIPp's own CPU, machine busy %, and
#     whether the fds went back to the baseline afterwards (ports released);
#  5. checks the recordings through the API (GET calls → how many have a
#     recording_attachment_id) and decodes one WAV to check the caller channel
#     carries audio, then prints a summary table (also in $OUT/summary.txt).
#
# Knobs (environment): CPS_STEPS="25 50 100 150 200" CPS_SECS=20
#   CPS_HOLD_MS=2000 CONC_STEPS="100 250 500 750 1000" CONC_RATE=50
#   CONC_STEADY_S=20 MAX_FAIL_PCT=0.1 RTP_PORTS=20000-40000
#   SKIP_CPS=1 / SKIP_CONC=1, OUT=<dir for logs> (default a temp dir),
#   WARM=1000 (a first, unmeasured step with that many calls up at once, so
#   every queue-position announcement is already synthesised and cached),
#   PERF_STEP=conc500 (perf record -e cpu-clock -g on the server during the
#   steady window of that step; top symbols in $OUT/perf.txt).
# Needs: sipp (Debian sip-tester ≥ 3.6 with RTP streaming), curl, jq, python3.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$HERE/../../target}/release/switchboard}"
CPS_STEPS="${CPS_STEPS:-25 50 100 150 200}"
CPS_SECS="${CPS_SECS:-20}"
CPS_HOLD_MS="${CPS_HOLD_MS:-2000}"
CONC_STEPS="${CONC_STEPS:-100 250 500 750 1000}"
CONC_RATE="${CONC_RATE:-50}"
CONC_STEADY_S="${CONC_STEADY_S:-20}"
MAX_FAIL_PCT="${MAX_FAIL_PCT:-0.1}"
RTP_PORTS="${RTP_PORTS:-20000-40000}"
NUMBER="+380441234567"
PASSWORD="switchboard-demo"

[[ -x "$BIN" ]] || { echo "no switchboard binary at $BIN" >&2; exit 2; }
for t in sipp curl jq python3; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 2; }; done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK="$(mktemp -d /tmp/sb-voice-bench.XXXXXX)"
OUT="${OUT:-$WORK}"
mkdir -p "$OUT"
DATA="$WORK/data"
mkdir -p "$DATA"
SERVER_PID=""
BG_PIDS=()
cleanup() {
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

# A port free for both UDP and TCP (the PBX listens on both).
free_sip_port() {
  python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
'
}
free_udp_port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# A free even port with a free range of $2 ports above it (SIPp's media ports).
free_port_block() {
  python3 - "$1" <<'EOF'
import socket, sys, random
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(42000, 60000 - n) & ~1
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
EOF
}

# ---------------------------------------------------------------- server
SIP_PORT="$(free_sip_port)"
log "binary $BIN ($(stat -c %y "$BIN" | cut -d. -f1)), data $DATA, SIP 127.0.0.1:$SIP_PORT, RTP $RTP_PORTS"
SWITCHBOARD_SIP_LISTEN="127.0.0.1:$SIP_PORT" SWITCHBOARD_DEMO_CHANNELS=off SWITCHBOARD_RTP_PORTS="$RTP_PORTS" \
  RUST_LOG="${RUST_LOG:-warn}" \
  "$BIN" demo --listen 127.0.0.1:0 --data-dir "$DATA" >"$OUT/server.out" 2>"$OUT/server.err" &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 600); do
  BASE="$(sed -n 's/^Switchboard listening on //p' "$OUT/server.out" | head -1)"
  [[ -n "$BASE" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited:" >&2; tail -20 "$OUT/server.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$BASE" ]] || { echo "server did not start within 60 s" >&2; exit 1; }
grep -q "^SIP listening on udp:127.0.0.1:$SIP_PORT" "$OUT/server.out" || { echo "SIP not listening:" >&2; cat "$OUT/server.out" >&2; exit 1; }
log "server pid $SERVER_PID at $BASE"

api() { # method path [json]
  local m="$1" p="$2" body="${3:-}"
  if [[ -n "$body" ]]; then
    curl -sS --max-time 30 -X "$m" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body" "$BASE$p"
  else
    curl -sS --max-time 30 -X "$m" -H "Authorization: Bearer $TOKEN" "$BASE$p"
  fi
}
TOKEN="$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
  -d "{\"email\":\"admin@demo.test\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/auth/login" | jq -r .token)"
[[ -n "$TOKEN" && "$TOKEN" != null ]] || { echo "login failed" >&2; exit 1; }
WS="$(api GET /api/v1/me | jq -r '.workspaces[0].id')"
V="/api/v1/workspaces/$WS/voice"
api PUT "$V/settings" '{"ring_timeout_secs": 20, "wrap_up_secs": 0, "max_queue_wait_secs": 3600, "other_channels_every_secs": 3600, "recording": true}' \
  | jq -e '.recording == true' >/dev/null || { echo "voice settings refused" >&2; exit 1; }
SUPPORT="$(api GET "/api/v1/workspaces/$WS/teams" | jq -r '.data[] | select(.name=="Support") | .id')"
api POST "/api/v1/workspaces/$WS/inboxes" "{\"name\":\"Bench phone\",\"channel\":\"voice\",\"config\":{\"numbers\":[\"$NUMBER\"]}}" \
  | jq -e .id >/dev/null || { echo "voice inbox refused" >&2; exit 1; }
# Inbound calls are only taken from a trunk of the workspace: SIPp sends
# from loopback.
api POST "$V/trunks" '{"name":"Bench loopback","host":"127.0.0.1","port":5060,"inbound_ips":["127.0.0.1"]}' \
  | jq -e .id >/dev/null || { echo "trunk refused" >&2; exit 1; }
NUMBER_ID="$(api GET "$V/numbers" | jq -r ".data[] | select(.number==\"$NUMBER\") | .id")"
api PATCH "$V/numbers/$NUMBER_ID" "{\"ivr_menu_id\": null, \"default_team_id\": $SUPPORT}" \
  | jq -e ".default_team_id == $SUPPORT" >/dev/null || { echo "number patch refused" >&2; exit 1; }
log "workspace $WS: number $NUMBER → team $SUPPORT (no IVR), recording on"

# caller.alaw: the A-law payload of SIPp's own sample (7.08 s of speech).
python3 - "$WORK/caller.alaw" <<'EOF'
import struct, sys
d = open('/usr/share/sip-tester/g711a.pcap', 'rb').read()
i, out = 24, b''
while i < len(d):
    _, _, cl, _ = struct.unpack('<IIII', d[i:i + 16]); p = d[i + 16:i + 16 + cl]; i += 16 + cl
    u = 14 + (p[14] & 15) * 4
    out += p[u + 8 + 12:]
open(sys.argv[1], 'wb').write(out)
EOF
cp "$HERE/caller_rtp.xml" "$WORK/"

# ---------------------------------------------------------------- sampling
CLK="$(getconf CLK_TCK)"
NCPU="$(nproc)"
proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# One line per second: t ticks rss_kb sockets sipp_ticks machine_busy machine_total
monitor() { # file sipp_pid
  local f="$1" sp="$2"
  set +e +o pipefail  # an fd closing under `find` must not end the sampler
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    local t rss fds st
    t="$(date +%s.%N)"
    rss="$(awk '/VmRSS/{print $2}' "/proc/$SERVER_PID/status")"
    fds="$(find "/proc/$SERVER_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l)"
    st="$(awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6}' /proc/stat)"
    echo "$t $(proc_ticks "$SERVER_PID") $rss $fds $(proc_ticks "$sp") $st" >>"$f"
    sleep 1
  done
}
fd_count() { ls "/proc/$SERVER_PID/fd" | wc -l; }

# step NAME RATE LIMIT TOTAL HOLD_MS STEADY_FROM STEADY_TO TIMEOUT
# Runs one SIPp process; writes "$OUT/$NAME.*" and appends a result line.
RESULTS="$OUT/results.tsv"
echo -e "step\tcps\tcps_real\tconcurrent\tcalls\tok\tfailed\tfail_pct\tinvite_ms\tretrans\tcpu_cores\tcpu_per_call_pct\tcpu_ms_per_call\trss_mb\tsipp_cores\tmachine_busy_pct\tfds_back" >"$RESULTS"
LAST_FAIL_PCT=0
run_step() {
  local name="$1" rate="$2" limit="$3" total="$4" hold="$5" s_from="$6" s_to="$7" tmo="$8"
  local sp mp mon="$OUT/$name.mon" fd0
  fd0="$(fd_count)"
  sp="$(free_udp_port)"; mp="$(free_port_block 4)"
  rm -f "$mon"
  log "step $name: -r $rate -l $limit -m $total -d $hold (steady ${s_from}-${s_to} s, bound ${tmo} s)"
  ( cd "$WORK" && exec sipp "127.0.0.1:$SIP_PORT" -sf caller_rtp.xml -s "${NUMBER#+}" \
      -i 127.0.0.1 -mi 127.0.0.1 -p "$sp" -mp "$mp" \
      -r "$rate" -rp 1000 -l "$limit" -m "$total" -d "$hold" \
      -timeout "${tmo}s" -max_recv_loops 10000 -max_sched_loops 10000 \
      -nostdin -trace_stat -stf "$OUT/$name.csv" -fd 1 -trace_err -error_file "$OUT/$name.err" \
      -trace_screen -screen_file "$OUT/$name.screen" ) >"$OUT/$name.sipp.out" 2>&1 &
  local spid=$!
  BG_PIDS+=("$spid")
  monitor "$mon" "$spid" &
  local mpid=$!
  BG_PIDS+=("$mpid")
  local start; start="$(date +%s)"
  # perf on the server during this step (one step only)
  if [[ "${PERF_STEP:-}" == "$name" ]] && command -v perf >/dev/null; then
    ( sleep "$s_from"; timeout $((s_to - s_from)) perf record -e cpu-clock -g -p "$SERVER_PID" -o "$OUT/perf.data" >/dev/null 2>&1 || true ) &
    BG_PIDS+=("$!")
  fi
  wait "$spid" || true
  kill "$mpid" 2>/dev/null || true; wait "$mpid" 2>/dev/null || true
  # ports released? fds back to what they were before (the PBX keeps a
  # call's Call-ID a little longer; sockets close at hang-up)
  local fds_back="no" f
  for _ in $(seq 1 30); do f="$(fd_count)"; if (( f <= fd0 + 2 )); then fds_back="yes"; break; fi; sleep 1; done
  [[ "$fds_back" == yes ]] || fds_back="no($f>$fd0)"
  python3 - "$name" "$rate" "$limit" "$total" "$OUT/$name.csv" "$mon" "$start" "$s_from" "$s_to" "$CLK" "$NCPU" "$fds_back" >>"$RESULTS" <<'EOF'
import csv, sys
name, rate, limit, total, csvf, mon, start, s_from, s_to, clk, ncpu, back = sys.argv[1:]
total = int(total); clk = float(clk); start = float(start)
ok = failed = retrans = 0; peak_cc = 0; achieved = rtd_ms = float('nan')
def secs(hms):  # "hh:mm:ss:usec"
    h, m, s_, us = (int(x) for x in hms.split(':')); return h * 3600 + m * 60 + s_ + us / 1e6
try:
    rows = list(csv.DictReader(open(csvf), delimiter=';'))
    last = rows[-1]
    ok = int(last['SuccessfulCall(C)']); failed = int(last['FailedCall(C)'])
    retrans = int(last['Retransmissions(C)'])
    peak_cc = max(int(r['CurrentCall']) for r in rows)
    rtd_ms = 1000 * secs(last['ResponseTime1(C)'])
    t = lambda r: float(r['CurrentTime'].split()[-1])
    t0 = t(rows[0]); full = [r for r in rows if int(r['TotalCallCreated']) >= total]
    if full:
        achieved = total / max(1.0, t(full[0]) - t0)
except Exception as e:
    print(f"# {name}: no SIPp stats ({e})", file=sys.stderr)
not_done = max(0, total - ok - failed)
fail = failed + not_done
pct = 100.0 * fail / total if total else 0.0
samples = [list(map(float, l.split())) for l in open(mon) if len(l.split()) == 7]
w = [s for s in samples if start + float(s_from) <= s[0] <= start + float(s_to)]
cores = cpc = mspc = sipp = busy = float('nan')
if len(w) >= 2:
    a, b = w[0], w[-1]; dt = b[0] - a[0]
    cores = (b[1] - a[1]) / clk / dt
    sipp = (b[4] - a[4]) / clk / dt
    busy = 100.0 * (b[5] - a[5]) / max(1.0, b[6] - a[6])
rss = max((s[2] for s in samples), default=0) / 1024
# calls up during the window: sockets above the pre-step level / 2 (RTP+RTCP)
conc = int(limit)
if w:
    base_fd = samples[0][3] if samples else 0
    conc_fd = sorted((s[3] - base_fd) / 2 for s in w)[len(w) // 2]
    conc = int(round(conc_fd)) if conc_fd > 0 else conc
if conc > 0 and cores == cores:
    cpc = 100.0 * cores / conc          # % of one core per live call
    mspc = 1000.0 * cores / float(rate) if name.startswith('cps') else float('nan')  # CPU-ms per call set-up
print(f"{name}\t{rate}\t{achieved:.0f}\t{conc}\t{total}\t{ok}\t{fail}\t{pct:.3f}\t{rtd_ms:.1f}\t{retrans}\t{cores:.3f}\t{cpc:.3f}\t{mspc:.2f}\t{rss:.0f}\t{sipp:.3f}\t{busy:.0f}\t{back}")
EOF
  local line; line="$(tail -1 "$RESULTS")"
  log "  → $(echo "$line" | awk -F'\t' '{printf "ok %s failed %s (%s %%), %s cps, up %s, INVITE→200 %s ms, server %s cores, %s %% core/call, rss %s MB, sipp %s cores, machine %s %% busy, fds back %s", $6,$7,$8,$3,$4,$9,$11,$12,$14,$15,$16,$17}')"
  LAST_FAIL_PCT="$(echo "$line" | cut -f8)"
  if [[ -s "$OUT/$name.err" ]]; then log "  SIPp errors: $(grep -c . "$OUT/$name.err") lines in $OUT/$name.err"; fi
}
over_limit() { python3 -c "import sys; sys.exit(0 if float('$1') > float('$MAX_FAIL_PCT') else 1)"; }

# ---------------------------------------------------------------- steps
# Warm-up (WARM=N): N calls up together once, so the queue announcements
# "you are number 1…N" are synthesised (espeak-ng + resampling, cached on
# disk like in a long-running PBX) before anything is measured.
if (( ${WARM:-0} > 0 )); then
  run_step "warm$WARM" 100 "$WARM" "$WARM" $(( (WARM / 100 + 15) * 1000 )) 1 2 $((WARM / 100 + 90))
  sleep 5
fi
if [[ -z "${SKIP_CPS:-}" ]]; then
  for cps in $CPS_STEPS; do
    total=$((cps * CPS_SECS))
    hold_s=$(( (CPS_HOLD_MS + 999) / 1000 ))
    run_step "cps$cps" "$cps" $((cps * (hold_s + 10))) "$total" "$CPS_HOLD_MS" \
      $((hold_s + 3)) $((CPS_SECS - 1)) $((CPS_SECS + hold_s + 60))
    if over_limit "$LAST_FAIL_PCT"; then log "failures over $MAX_FAIL_PCT % at $cps CPS: stop"; break; fi
    sleep 5
  done
fi
if [[ -z "${SKIP_CONC:-}" ]]; then
  for n in $CONC_STEPS; do
    ramp=$(( (n + CONC_RATE - 1) / CONC_RATE ))
    hold_s=$((ramp + CONC_STEADY_S + 3))
    run_step "conc$n" "$CONC_RATE" "$n" "$n" $((hold_s * 1000)) $((ramp + 3)) $((hold_s - 1)) $((hold_s + ramp + 60))
    if over_limit "$LAST_FAIL_PCT"; then log "failures over $MAX_FAIL_PCT % at $n concurrent calls: stop"; break; fi
    sleep 5
  done
fi

# ---------------------------------------------------------------- recordings
sleep 5
python3 - "$BASE" "$TOKEN" "$WS" <<'EOF' | tee "$OUT/recordings.txt"
import json, sys, urllib.request, urllib.parse, io, wave, array, math, collections
base, token, ws = sys.argv[1:]
def get(path):
    r = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    return urllib.request.urlopen(r, timeout=60).read()
calls, cursor = [], None
while True:
    q = "?limit=200" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
    page = json.loads(get(f"/api/v1/workspaces/{ws}/calls{q}"))
    calls += page["data"]; cursor = page.get("next_cursor")
    if not cursor or not page["data"]:
        break
disp = collections.Counter(str(c.get("disposition")) for c in calls)
rec = [c for c in calls if c.get("recording_attachment_id") is not None]
print(f"calls in the log: {len(calls)}; dispositions: {dict(disp)}; with a recording: {len(rec)}"
      f" ({100.0 * len(rec) / max(1, len(calls)):.2f} %)")
if rec:
    c = rec[0]  # the newest: from the last concurrency step
    wav = get(f"/api/v1/workspaces/{ws}/calls/{c['id']}/recording")
    w = wave.open(io.BytesIO(wav))
    ch, rate, n = w.getnchannels(), w.getframerate(), w.getnframes()
    a = array.array("h", w.readframes(n))
    left = a[0::ch]
    rms = math.sqrt(sum(x * x for x in left) / max(1, len(left)))
    print(f"newest recording (call {c['id']}): {ch} ch, {rate} Hz, {n / rate:.1f} s, caller channel rms {rms:.0f}"
          f" ({'audio' if rms > 200 else 'SILENT'}); call talk/wait {c.get('wait_ms')} ms, {len(wav)} bytes")
EOF

# ---------------------------------------------------------------- summary
{
  echo "Switchboard voice benchmark $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1)"
  echo "binary $BIN; failures limit $MAX_FAIL_PCT %"
  column -t -s $'\t' "$RESULTS"
  cat "$OUT/recordings.txt"
} | tee "$OUT/summary.txt"
if [[ -f "$OUT/perf.data" ]]; then
  perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.7 2>/dev/null | grep -v "^#" | grep "%" | cut -c1-140 | head -45 >"$OUT/perf.txt" || true
  echo "perf profile (top symbols): $OUT/perf.txt"
fi
echo "logs: $OUT"
