#!/usr/bin/env bash
# Files/s of the service with its state in SQLite (one node), in PostgreSQL with one node, and
# in PostgreSQL with two nodes sharing the database and the data folder (one active, one
# standing by); then deliveries to a slow target (the HTTP simulator answering each POST after
# LATENCY_MS, concurrency 4), which every node claims and sends, with one node and with two;
# then the failover run: 1,000 files while the active node is killed with SIGKILL 50 times (the
# integration test tests/it/nodes.rs, scaled up, release build).
#
#   bash benches/nodes.sh              # N=2000 files per run, D=600 deliveries
#   N=5000 KILLS=0 bash benches/nodes.sh   # throughput only
#   BIN=/path/to/edigate KILLS=0 bash benches/nodes.sh   # another build, for a comparison
#
# PostgreSQL: Debian's server binaries, a throwaway cluster on 127.0.0.1 (fsync on, as a real
# server runs), started here as the postgres user when run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000}
KILLS=${KILLS:-50}
D=${D:-600}
LATENCY_MS=${LATENCY_MS:-50}
FILES=${FILES:-1000}
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build --release --manifest-path "$here/Cargo.toml" -q
  bin=$here/target/release/edigate
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir "$work/pg" && [ "$(id -u)" != 0 ] || chown postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" --no-locale -E UTF8 -A trust -U edigate >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pg" start >/dev/null
trap 'as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true; pkill -f "$work/" 2>/dev/null || true; rm -rf "$work"' EXIT

# One run: $1 = label, $2 = backend (sqlite|postgres), $3 = nodes, $4 = files, $5 = the port
# of a target simulator (empty: no target; otherwise the run ends when all are delivered).
run() {
  local label=$1 backend=$2 nodes=$3 n=$4 sim=${5:-} dir="$work/$1"
  mkdir -p "$dir/inbox" "$dir/stage"
  cat > "$dir/edigate.toml" <<CFG
[service]
rescan_seconds = 1
settle_ms = 20

[[channels]]
name = "inbox"
type = "dir"
path = "inbox"

[[partners]]
id = "ACME"
x12_ids = ["ZZ:ACMESUPPLY"]
CFG
  if [ -n "$sim" ]; then
    printf '\n[[targets]]\nname = "erp"\ntype = "http"\nurl = "http://127.0.0.1:%s/records"\nconcurrency = 4\n' "$sim" >> "$dir/edigate.toml"
  fi
  export EDIGATE_DATABASE_URL="postgres://edigate@127.0.0.1:$port/$label"
  if [ "$backend" = postgres ]; then
    printf '\n[store]\nbackend = "postgres"\nurl_env = "EDIGATE_DATABASE_URL"\nlease_seconds = 5\n' >> "$dir/edigate.toml"
    "$pgbin/psql" -q -h 127.0.0.1 -p "$port" -U edigate -d postgres -c "CREATE DATABASE $label"
  fi
  python3 - "$n" "$dir" "$here" "$label" <<'PY'
import sys
n, d, here = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = open(here + "/tests/data/x12/ok/850-4010-acme.edi").read()
for i in range(1, n + 1):
    s = t.replace("4500001234", "%s%08d" % (sys.argv[4][:4].upper(), i)).replace("000000905", "%09d" % (100000 + i))
    open("%s/stage/po%06d.edi" % (d, i), "w").write(s)
PY
  local pids=()
  for _ in $(seq "$nodes"); do
    (cd "$dir" && EDIGATE_LOG=error exec "$bin" run 2>>service.log) &
    pids+=($!)
  done
  # The service is up once status answers with an active node (PostgreSQL) or at all.
  for _ in $(seq 100); do
    (cd "$dir" && "$bin" status --json >/dev/null 2>&1) && break
    sleep 0.1
  done
  python3 - "$n" "$dir" "$bin" "$label" "$sim" <<'PY'
import json, os, subprocess, sys, time
n, d, binary, label, sim = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
start = time.time()
for name in sorted(os.listdir(d + "/stage")):
    os.rename(os.path.join(d, "stage", name), os.path.join(d, "inbox", name))
while True:
    out = subprocess.run([binary, "status", "--json"], cwd=d, capture_output=True, text=True)
    try:
        status = json.loads(out.stdout)
        done = status["targets"][0]["delivered"] if sim else status["files"]["done"]
    except Exception:
        done = 0
    if done >= n:
        break
    time.sleep(0.25)
took = time.time() - start
acks = len(os.listdir(d + "/outbox/ACME/acks"))
what = "delivered" if sim else "files"
print(f"{label:<12} {n} {what} in {took:.1f} s: {n / took:.0f} {what}/s ({acks} 997s)")
PY
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}

echo "throughput, $(nproc) cores:"
run sqlite1 sqlite 1 "$N"
run postgres1 postgres 1 "$N"
run postgres2 postgres 2 "$N"

# A fresh simulator per run: every record stored once, and no request sent twice.
deliveries() {
  local label=$1 nodes=$2 simport
  simport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" sim-http --listen "127.0.0.1:$simport" --fail-rate 0 --latency-ms "$LATENCY_MS" 2>/dev/null &
  local simpid=$!
  run "$label" postgres "$nodes" "$D" "$simport"
  curl -s "http://127.0.0.1:$simport/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("             target: %d posts, %d stored" % (s["posts"], len(s["stored"])))'
  kill "$simpid"
}
echo "deliveries to a target answering in $LATENCY_MS ms, concurrency 4 per node:"
deliveries deliver1 1
deliveries deliver2 2

if [ "$KILLS" -gt 0 ]; then
  echo "failover: $FILES files, the active node killed $KILLS times"
  EDIGATE_NODES_FILES=$FILES EDIGATE_NODES_KILLS=$KILLS \
    cargo test --release --locked --manifest-path "$here/Cargo.toml" --test it -- \
    --nocapture nodes:: 2>&1 | grep -E "files/s|test result"
fi
