#!/usr/bin/env bash
# End-to-end durable throughput: N small X12 850 files (default 10000; DOC=810 for invoices)
# dropped into inbox/,
# translated, delivered to a local HTTP target (the simulator, no failures) and acknowledged
# (997 written), with the real service running. Prints files/s for the burst, and the latency
# from drop to delivery (p50/p99) for files dropped one by one while the queue is not backed up.
#
#   bash benches/e2e.sh            # N=10000, 200 paced files for latency
#   DOC=810 bash benches/e2e.sh    # the same with invoices
#   EDIGATE_LOG=edigate::scheduler=debug KEEP_LOG=/tmp/e2e.log bash benches/e2e.sh   # per-pass stage times
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-10000}
PACED=${PACED:-200}
DOC=${DOC:-850}
cargo build --release --manifest-path "$here/Cargo.toml" -q
bin=$here/target/release/edigate
work=$(mktemp -d)
cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" sim-http --listen "127.0.0.1:$port" --fail-rate 0 2>/dev/null &
sim=$!
mkdir inbox stage paced
cat > edigate.toml <<CFG
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

[[targets]]
name = "erp"
type = "http"
url = "http://127.0.0.1:$port/records"
concurrency = 8
CFG
python3 - "$N" "$PACED" "$DOC" <<PY
import sys
n, paced, doc = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# The fixture, its document number and its interchange control number.
fixture, number, control = {
    "850": ("850-4010-acme.edi", "4500001234", "000000905"),
    "810": ("810-4010-invoice-with-charges.edi", "INV-9001", "000000910"),
}[doc]
t = open("$here/tests/data/x12/ok/" + fixture).read()
for i in range(1, n + paced + 1):
    s = t.replace(number, "DOC%08d" % i).replace(control, "%09d" % (100000 + i))
    open(("stage/po%06d.edi" if i <= n else "paced/po%06d.edi") % i, "w").write(s)
PY
EDIGATE_LOG=${EDIGATE_LOG:-error} "$bin" run 2>service.log &
svc=$!
trap 'st=$?; kill $svc $sim 2>/dev/null || true; wait $svc $sim 2>/dev/null || true; [ -z "${KEEP_LOG:-}" ] || cp service.log "$KEEP_LOG"; rm -rf "$work"; exit $st' EXIT
sleep 1
# The harness is one Python process (no process started per poll, so that it takes little CPU
# from the service it measures). The burst: every file renamed into inbox/ at once; its end is
# the last delivery's timestamp in the database. Then the latency: one file at a time, 10 per
# second, the queue never backed up.
python3 - "$N" "$PACED" <<'PY'
import datetime, os, sqlite3, sys, time
n, paced = int(sys.argv[1]), int(sys.argv[2])
db = sqlite3.connect("var/edigate.db", timeout=30)
def count():
    return db.execute("select count(*) from deliveries where state = 'delivered'").fetchone()[0]
def stamp(text):
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()
start = time.time()
for name in sorted(os.listdir("stage")):
    os.rename(os.path.join("stage", name), os.path.join("inbox", name))
while count() < n:
    time.sleep(0.2)
end = stamp(db.execute("select max(delivered_at) from deliveries where state = 'delivered'").fetchone()[0])
acks = len(os.listdir("outbox/ACME/acks"))
d = end - start
print(f"burst: {n} files in {d:.1f} s = {n / d:.0f} files/s (drop -> canonical -> HTTP target -> 997), {acks} acknowledgements")
drops = {}
for name in sorted(os.listdir("paced")):
    drops[name] = time.time()
    os.rename(os.path.join("paced", name), os.path.join("inbox", name))
    time.sleep(0.1)
while count() < n + paced:
    time.sleep(0.2)
lat = []
for name, done in db.execute("select f.name, d.delivered_at from deliveries d join files f on f.id = d.file_id where d.state = 'delivered'"):
    if name in drops:
        lat.append((stamp(done) - drops[name]) * 1000)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"latency drop -> delivered ({len(lat)} paced files): p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {lat[-1]:.0f} ms")
PY
# The service's peak memory over the whole run (it must not grow with the number of files).
awk '/VmHWM/ {printf "service peak RSS: %.0f MB\n", $2 / 1024}' "/proc/$svc/status"
