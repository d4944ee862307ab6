#!/usr/bin/env python3
"""Per document: whole-process `edigate translate FILE > /dev/null` on a file of about
EDIGATE_BENCH_MB (default 20) MB made by repeating a realistic fixture interchange (control
numbers renumbered), beside one `tr -cd "~'" < FILE | wc -c` pass over the same file, in one
run: MB/s of each and the ratio (the goal of issue 18: translate within 4 times tr). A cXML
file is one request, grown by repeating its line element (a large order or invoice); a CSV
file is grown by repeating its rows under new document numbers, translated for partner ACME.

    cargo build --release && python3 benches/documents.py
    EDIGATE_BENCH_MAPPINGS=DIR python3 benches/documents.py   # an operator's mappings folder
    EDIGATE_BENCH_RUNS=5 python3 benches/documents.py         # best of 5 runs (default 3)
    EDIGATE_BENCH_BIN=/path/to/edigate python3 benches/documents.py  # another build
"""
import os, re, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.environ.get("EDIGATE_BENCH_BIN") or os.path.join(here, "target", "release", "edigate")
data = os.path.join(here, "tests", "data")
mb = float(os.environ.get("EDIGATE_BENCH_MB", "20"))
# Best of this many runs of each command (this shared machine varies by half between runs).
runs = int(os.environ.get("EDIGATE_BENCH_RUNS", "3"))
fixtures = [
    ("X12 850", "x12/ok/850-4010-acme.edi"),
    ("X12 810", "x12/ok/810-4010-invoice-with-charges.edi"),
    ("X12 855", "x12/ok/855-4010-ack-with-changes.edi"),
    ("X12 856", "x12/ok/856-5010-order-pack-item.edi"),
    ("X12 860", "x12/ok/860-5010-change-quantities.edi"),
    ("X12 820", "x12/ok/820-4010-remittance.edi"),
    ("X12 997", "x12/ok/997-4010-received-partial.edi"),
    ("X12 999", "x12/ok/999-5010-received-rejected.edi"),
    ("EDIFACT ORDERS", "edifact/ok/orders-d96a-order-date-discrete-qty.edi"),
    ("EDIFACT ORDRSP", "edifact/ok/ordrsp-d96a-changed-lines.edi"),
    ("EDIFACT DESADV", "edifact/ok/desadv-d96a-two-pallets.edi"),
    ("EDIFACT INVOIC", "edifact/ok/invoic-d96a-with-tax.edi"),
    ("EDIFACT REMADV", "edifact/ok/remadv-d96a-two-invoices.edi"),
    ("EDIFACT CONTRL", "edifact/ok/contrl-d3-message-rejected.edi"),
    ("EDIFACT APERAK", "edifact/ok/aperak-d96a-unknown-article.edi"),
    ("cXML Order", "cxml/ok/order-request.xml"),
    ("cXML Invoice", "cxml/ok/invoice-detail-request.xml"),
    ("cXML Confirm", "cxml/ok/confirmation-request.xml"),
    ("cXML ShipNotice", "cxml/ok/ship-notice-request.xml"),
    ("CSV orders", "csv/ok/order-lines.csv"),
    ("CSV invoices", "csv/ok/invoices-semicolon-decimal-comma.csv"),
]


def grown(text, target):
    """The fixture repeated to about `target` bytes, each copy with its own control numbers."""
    out, n = [], 0
    size = 0
    if text.startswith("ISA"):
        isa = re.search(r"\*U?\*?\d{5}\*(\d{9})\*", text) or re.search(r"\*(\d{9})\*[01]\*[PT]\*", text)
        ctl = isa.group(1)
        while size < target:
            n += 1
            copy = text.replace(ctl, f"{n:09d}")
            out.append(copy)
            size += len(copy)
        return "".join(out)
    if text.startswith("UNA") or text.startswith("UNB"):
        head, _, rest = text.partition("UNB")
        unb = "UNB" + rest
        ctl = re.search(r"UNB\+[^']*?\+[^']*?\+[^']*?\+[^']*?\+([^+']+)", unb).group(1)
        while size < target:
            n += 1
            copy = unb.replace(ctl, f"{n:014d}"[-len(ctl):] if len(ctl) <= 14 else str(n))
            out.append(copy)
            size += len(copy)
        return head + "".join(out)
    if text.lstrip().startswith("<"):
        m = re.search(r"[ \t]*<(ItemOut|ConfirmationItem|InvoiceDetailItem|ShipNoticeItem)\b.*?</\1>\s*", text, re.S)
        item = m.group(0)
        while size < target:
            n += 1
            copy = re.sub(r'lineNumber="\d+"', f'lineNumber="{n}"', item)
            out.append(copy)
            size += len(copy)
        return text[:m.start()] + "".join(out) + text[m.end():]
    head, *rows = text.splitlines()
    delimiter = ";" if head.count(";") > head.count(",") else ","
    out = [head]
    while size < target:
        n += 1
        for row in rows:
            number, _, rest = row.partition(delimiter)
            copy = f"{number}-{n}{delimiter}{rest}"
            out.append(copy)
            size += len(copy) + 1
    return "\n".join(out) + "\n"


def timed(cmd, stdin=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t, r


if not os.path.exists(binary):
    sys.exit("build first: cargo build --release")
extra = []
if os.environ.get("EDIGATE_BENCH_MAPPINGS"):
    cfg = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    cfg.write(f'[service]\nmappings = "{os.environ["EDIGATE_BENCH_MAPPINGS"]}"\n[[channels]]\nname = "in"\ntype = "dir"\npath = "/tmp"\n'
              '[[partners]]\nid = "ACME"\nx12_ids = ["ZZ:ACMESUPPLY"]\nedifact_ids = ["5412345000013:14"]\n'
              'cxml_ids = ["NetworkID:AN01000000147"]\n')
    cfg.close()
    extra = ["--config", cfg.name]
print(f"{'document':<16} {'MB':>6} {'translate MB/s':>15} {'tr MB/s':>9} {'ratio':>7}  records")
with tempfile.TemporaryDirectory() as d:
    for name, rel in fixtures:
        text = open(os.path.join(data, rel), encoding="utf-8", errors="replace").read()
        path = os.path.join(d, os.path.basename(rel))
        with open(path, "w") as f:
            f.write(grown(text, int(mb * 1e6)))
        size = os.path.getsize(path) / 1e6
        best_tr = min(timed(["sh", "-c", f"tr -cd \"~'\" < {path} | wc -c"])[0] for _ in range(runs))
        partner = ["--partner", "ACME"] if rel.startswith("csv/") else []
        timings = [timed([binary] + extra + ["translate"] + partner + [path]) for _ in range(runs)]
        best = min(t for t, _ in timings)
        r = timings[-1][1]
        summary = r.stderr.decode(errors="replace").strip().splitlines()
        summary = summary[-1] if summary else ""
        print(f"{name:<16} {size:6.1f} {size / best:15.1f} {size / best_tr:9.1f} {best / best_tr:7.1f}  {summary[:60]}")
