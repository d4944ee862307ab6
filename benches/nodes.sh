#!/usr/bin/env bash
# Files/s of the service with its state in SQLite (one node), in PostgreSQL with one node, and
# in PostgreSQL with two nodes sharing the database and the data folder (one active, one
# standing by); then the failover run: 1,000 files while the active node is killed with
# SIGKILL 50 times (the integration test tests/it/nodes.rs, scaled up, release build).
#
#   bash benches/nodes.sh              # N=2000 files per run
#   N=5000 KILLS=0 bash benches/nodes.sh   # throughput only
#
# PostgreSQL: Debian's server binaries, a throwaway cluster on 127.0.0.1 (fsync on, as a real
# server runs), started here as the postgres user when run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000}
KILLS=${KILLS:-50}
FILES=${FILES:-1000}
cargo build --release --manifest-path "$here/Cargo.toml" -q
bin=$here/target/release/edigate
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

# One run: $1 = label, $2 = backend (sqlite|postgres), $3 = nodes.
run() {
  local label=$1 backend=$2 nodes=$3 dir="$work/$1"
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
  export EDIGATE_DATABASE_URL="postgres://edigate@127.0.0.1:$port/$label"
  if [ "$backend" = postgres ]; then
    printf '\n[store]\nbackend = "postgres"\nurl_env = "EDIGATE_DATABASE_URL"\nlease_seconds = 5\n' >> "$dir/edigate.toml"
    "$pgbin/psql" -q -h 127.0.0.1 -p "$port" -U edigate -d postgres -c "CREATE DATABASE $label"
  fi
  python3 - "$N" "$dir" "$here" <<'PY'
import sys
n, d, here = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = open(here + "/tests/data/x12/ok/850-4010-acme.edi").read()
for i in range(1, n + 1):
    s = t.replace("4500001234", "DOC%08d" % i).replace("000000905", "%09d" % (100000 + i))
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
  python3 - "$N" "$dir" "$bin" "$label" <<'PY'
import json, os, subprocess, sys, time
n, d, binary, label = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
start = time.time()
for name in sorted(os.listdir(d + "/stage")):
    os.rename(os.path.join(d, "stage", name), os.path.join(d, "inbox", name))
while True:
    out = subprocess.run([binary, "status", "--json"], cwd=d, capture_output=True, text=True)
    try:
        done = json.loads(out.stdout)["files"]["done"]
    except Exception:
        done = 0
    if done >= n:
        break
    time.sleep(0.25)
took = time.time() - start
acks = len(os.listdir(d + "/outbox/ACME/acks"))
print(f"{label:<12} {n} files in {took:.1f} s: {n / took:.0f} files/s ({acks} 997s)")
PY
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}

echo "throughput, $(nproc) cores:"
run sqlite1 sqlite 1
run postgres1 postgres 1
run postgres2 postgres 2

if [ "$KILLS" -gt 0 ]; then
  echo "failover: $FILES files, the active node killed $KILLS times"
  EDIGATE_NODES_FILES=$FILES EDIGATE_NODES_KILLS=$KILLS \
    cargo test --release --locked --manifest-path "$here/Cargo.toml" --test it -- \
    --nocapture nodes:: 2>&1 | grep -E "files/s|test result"
fi
