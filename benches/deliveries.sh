#!/usr/bin/env bash
# Delivery throughput: N invoices (default 2000) translated first, with their deliveries to four
# targets (two HTTP targets on the simulator, the sandbox's SAP S/4HANA and Dynamics 365, each
# with concurrency 8) left pending; then the simulators start and `edigate once` delivers them
# all. Prints records per second per target kind and overall (a D365 invoice is three calls:
# header and two lines; an SAP invoice a CSRF fetch once, then one call).
#
#   bash benches/deliveries.sh          # N=2000
#   ONLY=http1 bash benches/deliveries.sh   # one HTTP target alone (concurrency 8)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000}
cargo build --release --manifest-path "$here/Cargo.toml" -q
bin=$here/target/release/edigate
work=$(mktemp -d)
cd "$work"
echo "work: $work"
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free)
erp_port=$(free)
trap 'kill ${sim:-} ${erp:-} 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export S4_USER=edigate S4_PASSWORD=sandbox D365_CLIENT_ID=edigate D365_CLIENT_SECRET=sandbox
mkdir inbox
target() { # name type extra
  [ -n "${ONLY:-}" ] && [ "$1" != "$ONLY" ] && return 0
  printf '\n[[targets]]\nname = "%s"\ntype = "%s"\n%s\nconcurrency = 8\nmax_attempts = 1000\nbackoff_ms = 1\nbackoff_cap_seconds = 1\nbreaker_threshold = 1000\ntimeout_seconds = 5\n' "$1" "$2" "$3"
}
{
  printf '[service]\nrescan_seconds = 1\n\n[[channels]]\nname = "inbox"\ntype = "dir"\npath = "inbox"\n\n'
  printf '[[partners]]\nid = "ACME"\nx12_ids = ["ZZ:ACMESUPPLY"]\n[partners.erp_ids]\ns4 = "17300001"\nd365 = "1001"\n'
  target http1 http "url = \"http://127.0.0.1:$port/records\""
  target http2 rest "url = \"http://127.0.0.1:$port/records\""
  target s4 sap_s4hana "base_url = \"http://127.0.0.1:$erp_port\"
username_env = \"S4_USER\"
password_env = \"S4_PASSWORD\"
documents = [\"invoice/v1\"]
values = { company_code = \"1710\" }"
  target d365 dynamics365 "base_url = \"http://127.0.0.1:$erp_port\"
token_url = \"http://127.0.0.1:$erp_port/T/oauth2/v2.0/token\"
client_id_env = \"D365_CLIENT_ID\"
client_secret_env = \"D365_CLIENT_SECRET\"
documents = [\"invoice/v1\"]
values = { data_area = \"usmf\" }"
} > edigate.toml
invoice=$(cat "$here/tests/data/x12/ok/810-4010-invoice-with-charges.edi")
for i in $(seq 1 "$N"); do
  n=$(printf '%06d' "$i")
  printf '%s\n' "$invoice" | sed -e "s/INV-9001/INV${n}/" -e "s/000000910/000${n}/g" \
    -e "s/\*142\*X\*/*${i}*X*/" -e "s/GE\*1\*142/GE*1*${i}/" > "inbox/inv${n}.edi"
done
# Translated with nothing listening: every delivery fails once and waits; then the failures
# are forgotten, so that the timed run makes first attempts (no lookups).
EDIGATE_LOG=error "$bin" once >/dev/null 2>&1 || true
python3 - <<'PY'
import sqlite3
db = sqlite3.connect("var/edigate.db")
db.execute("update deliveries set next_at = '2000-01-01T00:00:00Z', attempts = 0, tried = 0 where state = 'pending'")
db.execute("delete from breakers")
db.commit()
print("pending deliveries:", db.execute("select count(*) from deliveries where state = 'pending'").fetchone()[0])
PY
"$bin" sim-http --listen "127.0.0.1:$port" --fail-rate 0 2>/dev/null &
sim=$!
"$bin" sandbox --listen "127.0.0.1:$erp_port" >/dev/null 2>&1 &
erp=$!
python3 - "$port" "$erp_port" <<'PY'
import socket, sys, time
for p in sys.argv[1:]:
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", int(p))).close(); break
        except OSError:
            time.sleep(0.01)
PY
start=$(date +%s.%N)
${PROFILE:-} env EDIGATE_LOG=${EDIGATE_LOG:-error} "$bin" once >/dev/null 2>>"${KEEP_LOG:-/dev/null}" || true
end=$(date +%s.%N)
python3 - "$start" "$end" "$N" <<'PY'
import sqlite3, sys
start, end, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect("var/edigate.db")
rows = db.execute("select target, count(*), min(delivered_at), max(delivered_at) from deliveries where state = 'delivered' group by target order by target").fetchall()
total = sum(r[1] for r in rows)
secs = end - start
print(f"delivered {total} records to {len(rows)} target(s) in {secs:.2f} s: {total / secs:.0f} records/s overall")
from datetime import datetime
def ts(x):
    return datetime.strptime(x, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
for t, c, a, b in rows:
    span = max(ts(b) - ts(a), 1e-3)
    print(f"  {t:6} {c} delivered in {span:.2f} s from its first to its last: {c / span:.0f} records/s")
left = db.execute("select target, state, count(*) from deliveries where state != 'delivered' group by target, state").fetchall()
if left:
    print("not delivered:", left)
PY
