#!/usr/bin/env bash
# Crash test: feeds N files (default 1000: purchase orders and invoices, alternately) through
# `edigate run` while killing it with SIGKILL at random moments K times (default 50), then lets
# `edigate once` finish and proves that every document was delivered exactly once: to the
# outbox, to a local HTTP target that stores each idempotency key (a record sent again after a
# kill must carry the key it had), and every invoice to the sandbox's SAP S/4HANA and Dynamics
# 365 (which honour no key: a kill between a request and its recorded outcome must lead to a
# lookup, never a second document); every acknowledgement written exactly once, and nothing
# left behind. Prints the counts; exits non-zero on any violation.
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
erp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" sandbox --listen "127.0.0.1:$erp_port" > sandbox.out 2>/dev/null &
erp=$!
trap 'kill $sim $erp 2>/dev/null || true; wait $sim $erp 2>/dev/null || true; rm -rf "$work"' EXIT
export S4_USER=edigate S4_PASSWORD=sandbox D365_CLIENT_ID=edigate D365_CLIENT_SECRET=sandbox
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
[partners.erp_ids]
s4 = "17300001"
d365 = "1001"

[[targets]]
name = "erp"
type = "http"
url = "http://127.0.0.1:$port/records"
concurrency = 4

[[targets]]
name = "s4"
type = "sap_s4hana"
base_url = "http://127.0.0.1:$erp_port"
username_env = "S4_USER"
password_env = "S4_PASSWORD"
documents = ["invoice/v1"]
values = { company_code = "1710" }
concurrency = 4

[[targets]]
name = "d365"
type = "dynamics365"
base_url = "http://127.0.0.1:$erp_port"
token_url = "http://127.0.0.1:$erp_port/TENANT/oauth2/v2.0/token"
client_id_env = "D365_CLIENT_ID"
client_secret_env = "D365_CLIENT_SECRET"
documents = ["invoice/v1"]
values = { data_area = "usmf" }
concurrency = 4
CFG
template=$(cat "$here/tests/data/x12/ok/850-4010-acme.edi")
invoice=$(cat "$here/tests/data/x12/ok/810-4010-invoice-with-charges.edi")
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
    if [ $((made % 2)) -eq 1 ]; then
      printf '%s\n' "$template" \
        | sed -e "s/4500001234/PO${n}/" -e "s/000000905/000${n}/g" -e "s/\*905\*X\*/*${made}*X*/" -e "s/GE\*1\*905/GE*1*${made}/" \
        > "inbox/.po${n}.part"
      mv "inbox/.po${n}.part" "inbox/po${n}.edi"
    else
      printf '%s\n' "$invoice" \
        | sed -e "s/INV-9001/INV${n}/" -e "s/000000910/000${n}/g" -e "s/\*142\*X\*/*${made}*X*/" -e "s/GE\*1\*142/GE*1*${made}/" \
        > "inbox/.inv${n}.part"
      mv "inbox/.inv${n}.part" "inbox/inv${n}.edi"
    fi
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

invoices=$(( N / 2 ))
records=$(cat outbox/ACME/purchase_order/*.jsonl outbox/ACME/invoice/*.jsonl | wc -l)
distinct=$(( $(cat outbox/ACME/purchase_order/*.jsonl | grep -o '"correlation":{"po_number":"PO[0-9]*"' | sort -u | wc -l) \
  + $(cat outbox/ACME/invoice/*.jsonl | grep -o '"invoice_number":"INV[0-9]*"' | sort -u | wc -l) ))
acks=$(ls outbox/ACME/acks/ | grep -c '^997-' || true)
acked=$(cat outbox/ACME/acks/997-* | grep -o '^AK1\*\(PO\|IN\)\*[0-9]*' | sort -u | wc -l)
archived=$(find var/archive -name '*.edi' | wc -l)
left_inbox=$(find inbox -type f | wc -l)
left_spool=$(find var/spool -type f | wc -l)
left_tmp=$(find outbox var -name '*.edigate-tmp' | wc -l)
quarantined=$(find var/quarantine -type f | wc -l)
read -r posted stored delivered sap sap_distinct heads heads_distinct lines lines_distinct < <(python3 - "$port" "$erp_port" <<'PY'
import json, sqlite3, sys, urllib.request
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/stats"))
rows = sqlite3.connect("var/edigate.db").execute("select count(*) from deliveries where target = 'erp' and state = 'delivered'").fetchone()[0]
erp = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/_sandbox/records"))
sap = erp["sap_s4hana"]["A_SupplierInvoice"]
heads = erp["dynamics365"]["VendorInvoiceHeaders"]
lines = erp["dynamics365"]["VendorInvoiceLines"]
print(stats["posts"], len(stats["stored"]), rows,
      len(sap), len({i["SupplierInvoiceIDByInvcgParty"] for i in sap}),
      len(heads), len({h["InvoiceNumber"] for h in heads}),
      len(lines), len({(l["HeaderReference"], l["InvoiceLineNumber"]) for l in lines}))
PY
)
echo "files dropped:               $made"
echo "SIGKILLs:                    $kills ($inflight with work in flight)"
echo "archived before final run:   $before"
echo "records (lines):             $records"
echo "distinct POs and invoices:   $distinct"
echo "997 files:                   $acks"
echo "distinct groups acknowledged: $acked"
echo "inputs archived:             $archived"
echo "left in inbox/spool/tmp:     $left_inbox/$left_spool/$left_tmp"
echo "quarantined:                 $quarantined"
echo "HTTP posts / keys stored:    $posted / $stored (deliveries marked delivered: $delivered)"
echo "SAP invoices (distinct):     $sap ($sap_distinct) of $invoices"
echo "D365 headers (distinct):     $heads ($heads_distinct) of $invoices, lines $lines ($lines_distinct)"
ok=1
[ "$records" -eq "$N" ] && [ "$distinct" -eq "$N" ] || { echo "FAIL: records"; ok=0; }
[ "$acks" -eq "$N" ] && [ "$acked" -eq "$N" ] || { echo "FAIL: acknowledgements"; ok=0; }
[ "$archived" -eq "$N" ] || { echo "FAIL: archive"; ok=0; }
[ "$stored" -eq "$N" ] && [ "$delivered" -eq "$N" ] || { echo "FAIL: HTTP deliveries"; ok=0; }
[ "$sap" -eq "$invoices" ] && [ "$sap_distinct" -eq "$invoices" ] || { echo "FAIL: SAP invoices"; ok=0; }
[ "$heads" -eq "$invoices" ] && [ "$heads_distinct" -eq "$invoices" ] || { echo "FAIL: D365 headers"; ok=0; }
[ "$lines" -eq $((2 * invoices)) ] && [ "$lines_distinct" -eq $((2 * invoices)) ] || { echo "FAIL: D365 lines"; ok=0; }
[ "$left_inbox" -eq 0 ] && [ "$left_spool" -eq 0 ] && [ "$left_tmp" -eq 0 ] && [ "$quarantined" -eq 0 ] || { echo "FAIL: leftovers"; ok=0; }
[ "$ok" -eq 1 ] && echo "PASS: every document delivered once, every acknowledgement written once, nothing left behind"
[ "$ok" -eq 1 ]
