#!/usr/bin/env bash
# Crash test: feeds N files (default 1000) through `edigate run` while killing it with SIGKILL
# at random moments K times (default 50), then lets `edigate once` finish and proves that every
# document was delivered exactly once (to the outbox, and to a local HTTP target that stores
# each idempotency key: a record sent again after a kill must carry the key it had), every
# acknowledgement written exactly once, and nothing was left behind. Prints the counts; exits
# non-zero on any violation.
#
#   bash tests/crash.sh            # N=1000 K=50
#   N=200 K=20 bash tests/crash.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-1000}
K=${K:-50}
SEED=${SEED:-850}
cargo build --release --manifest-path "$here/Cargo.toml" -q
bin=$here/target/release/edigate
work=$(mktemp -d)
cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" sim-http --listen "127.0.0.1:$port" --fail-rate 0 2>/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait $sim 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir inbox
cat > edigate.toml <<CFG
[service]
rescan_seconds = 1
settle_ms = 5

[[channels]]
name = "inbox"
type = "dir"
path = "inbox"

[[partners]]
id = "ACME"
x12_ids = ["ZZ:ACMESUPPLY"]

[[targets]]
name = "erp"
type = "http"
url = "http://127.0.0.1:$port/records"
concurrency = 4
CFG
template=$(cat "$here/tests/data/x12/ok/850-4010-acme.edi")
RANDOM=$SEED
per_round=$(( (N + K - 1) / K ))
made=0
kills=0
inflight=0
while [ "$kills" -lt "$K" ]; do
  # Drop this round's files the way a careful writer does: temporary name, then rename.
  for _ in $(seq 1 "$per_round"); do
    [ "$made" -ge "$N" ] && break
    made=$((made + 1))
    n=$(printf '%06d' "$made")
    printf '%s\n' "$template" \
      | sed -e "s/4500001234/PO${n}/" -e "s/000000905/000${n}/g" -e "s/\*905\*X\*/*${made}*X*/" -e "s/GE\*1\*905/GE*1*${made}/" \
      > "inbox/.po${n}.part"
    mv "inbox/.po${n}.part" "inbox/po${n}.edi"
  done
  EDIGATE_LOG=error "$bin" run 2>>service.log &
  pid=$!
  # the service needs about 0.1 s to start (it compiles every mapping), so kills land from
  # before it reads its configuration to well into its work
  sleep "0.$(printf '%03d' $((RANDOM % 400 + 5)))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  kills=$((kills + 1))
  archived=$({ find var/archive -name '*.edi' 2>/dev/null || true; } | wc -l)
  [ "$archived" -lt "$made" ] && inflight=$((inflight + 1))
done
before=$({ find var/archive -name '*.edi' 2>/dev/null || true; } | wc -l)
EDIGATE_LOG=error "$bin" once 2>>service.log || { echo "final run failed"; cat service.log; exit 1; }

records=$(cat outbox/ACME/purchase_order/*.jsonl | wc -l)
distinct=$(cat outbox/ACME/purchase_order/*.jsonl | grep -o '"correlation":{"po_number":"PO[0-9]*"' | sort -u | wc -l)
acks=$(ls outbox/ACME/acks/ | grep -c '^997-' || true)
acked=$(cat outbox/ACME/acks/997-* | grep -o '^AK1\*PO\*[0-9]*' | sort -u | wc -l)
archived=$(find var/archive -name '*.edi' | wc -l)
left_inbox=$(find inbox -type f | wc -l)
left_spool=$(find var/spool -type f | wc -l)
left_tmp=$(find outbox var -name '*.edigate-tmp' | wc -l)
quarantined=$(find var/quarantine -type f | wc -l)
read -r posted stored delivered < <(python3 - "$port" <<'PY'
import json, sqlite3, sys, urllib.request
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/stats"))
rows = sqlite3.connect("var/edigate.db").execute("select count(*) from deliveries where state = 'delivered'").fetchone()[0]
print(stats["posts"], len(stats["stored"]), rows)
PY
)
echo "files dropped:               $made"
echo "SIGKILLs:                    $kills ($inflight with work in flight)"
echo "archived before final run:   $before"
echo "records (lines):             $records"
echo "distinct purchase orders:    $distinct"
echo "997 files:                   $acks"
echo "distinct groups acknowledged: $acked"
echo "inputs archived:             $archived"
echo "left in inbox/spool/tmp:     $left_inbox/$left_spool/$left_tmp"
echo "quarantined:                 $quarantined"
echo "HTTP posts / keys stored:    $posted / $stored (deliveries marked delivered: $delivered)"
ok=1
[ "$records" -eq "$N" ] && [ "$distinct" -eq "$N" ] || { echo "FAIL: records"; ok=0; }
[ "$acks" -eq "$N" ] && [ "$acked" -eq "$N" ] || { echo "FAIL: acknowledgements"; ok=0; }
[ "$archived" -eq "$N" ] || { echo "FAIL: archive"; ok=0; }
[ "$stored" -eq "$N" ] && [ "$delivered" -eq "$N" ] || { echo "FAIL: HTTP deliveries"; ok=0; }
[ "$left_inbox" -eq 0 ] && [ "$left_spool" -eq 0 ] && [ "$left_tmp" -eq 0 ] && [ "$quarantined" -eq 0 ] || { echo "FAIL: leftovers"; ok=0; }
[ "$ok" -eq 1 ] && echo "PASS: every document delivered once, every acknowledgement written once, nothing left behind"
[ "$ok" -eq 1 ]
