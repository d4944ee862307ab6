#!/usr/bin/env python3
"""Peak memory (RSS) of `edigate translate FILE > /dev/null` and of the service (`edigate once`
on an installation whose inbox holds the file, `max_file_mb` raised) on big X12 850 files, the
goal of issue 18 being at most 96 MB for 1 GB whatever the file's shape. Two shapes, each about
EDIGATE_BENCH_MB (default 1024) MB, written once into EDIGATE_BENCH_DIR (default a temporary
folder, removed after):

  many  the fixture interchange repeated, each copy with its own control number
  one   one interchange (one ISA, one GS) holding the fixture's transaction set repeated
  csv   CSV order lines (tests/data/csv/ok/order-lines.csv) repeated under new order numbers,
        read for partner ACME (EDIGATE_BENCH_SHAPES=many,one,csv)

Prints, per shape and command: size, seconds, MB/s, peak RSS, and the last line it printed.
EDIGATE_BENCH_SERVICE=0 skips the service (whose outbox gets one 997 per interchange);
EDIGATE_BENCH_SHAPES=one measures one shape.

    cargo build --release && python3 benches/memory.py
    EDIGATE_BENCH_MB=100 python3 benches/memory.py
    EDIGATE_BENCH_SERVICE=0 python3 benches/memory.py
    EDIGATE_BENCH_BIN=/path/to/edigate python3 benches/memory.py   # another build
"""
import os, re, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.environ.get("EDIGATE_BENCH_BIN") or os.path.join(here, "target", "release", "edigate")
fixture = os.path.join(here, "tests", "data", "x12", "ok", "850-4010-acme.edi")
csv_fixture = os.path.join(here, "tests", "data", "csv", "ok", "order-lines.csv")
mb = float(os.environ.get("EDIGATE_BENCH_MB", "1024"))


def write_many(path, target):
    text = open(fixture).read()
    ctl = re.search(r"\*(\d{9})\*[01]\*[PT]\*", text).group(1)
    size, n = 0, 0
    with open(path, "w") as f:
        while size < target:
            n += 1
            copy = text.replace(ctl, f"{n:09d}")
            f.write(copy)
            size += len(copy)


def write_one(path, target):
    text = open(fixture).read()
    segs = [s.strip() for s in text.split("~") if s.strip()]
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    body = segs[st + 1:se]
    isa, gs = segs[0], segs[1]
    gs_ctl = gs.split("*")[6]
    isa_ctl = isa.split("*")[13]
    size, n = 0, 0
    with open(path, "w") as f:
        f.write(isa + "~\n" + gs + "~\n")
        while size < target:
            n += 1
            tx = [f"ST*850*{n:09d}"] + body + [f"SE*{len(body) + 2}*{n:09d}"]
            chunk = "~\n".join(tx) + "~\n"
            f.write(chunk)
            size += len(chunk)
        f.write(f"GE*{n}*{gs_ctl}~\nIEA*1*{isa_ctl}~\n")


def write_csv(path, target):
    lines = open(csv_fixture).read().splitlines()
    header, rows = lines[0], [r for r in lines[1:] if r.strip()]
    size, n = 0, 0
    with open(path, "w") as f:
        f.write(header + "\n")
        while size < target:
            n += 1
            for r in rows:
                number, _, rest = r.partition(",")
                line = f"{number}-{n},{rest}\n"
                f.write(line)
                size += len(line)


def remove(folder):
    """Removes a folder in another process: a Python walk over a million files would grow
    this one, and a child forked from it starts with its peak (Linux keeps it across exec)."""
    subprocess.run(["rm", "-rf", folder], check=True)


def peak(cmd):
    """Runs `cmd` alone (stdout to /dev/null) and gives its seconds, stderr, peak RSS in MB.
    The peak counts this process's memory at the fork too, which stays far below."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        err = os.open(os.path.join(tempfile.gettempdir(), f"edigate-mem-{os.getppid()}.err"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(err, 2)
        os.execv(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    secs = time.perf_counter() - t
    errpath = os.path.join(tempfile.gettempdir(), f"edigate-mem-{os.getpid()}.err")
    # Only its end: a service run logs a line per output (1.5 million for the `many` shape),
    # and reading it all would grow this process, whose size the next child's peak includes.
    with open(errpath, "rb") as f:
        f.seek(max(0, os.path.getsize(errpath) - 4096))
        err = f.read().decode(errors="replace")
    os.unlink(errpath)
    return secs, err, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


if not os.path.exists(binary):
    sys.exit("build first: cargo build --release")
folder = os.environ.get("EDIGATE_BENCH_DIR")
tmp = None if folder else tempfile.TemporaryDirectory()
folder = folder or tmp.name
# max_file_mb (256 by default) raised, so that the files are translated at all
config = os.path.join(folder, "memory-bench.toml")
with open(config, "w") as f:
    f.write('[service]\nmax_file_mb = 4096\n\n[[channels]]\nname = "in"\ntype = "dir"\npath = "."\n'
            '\n[[partners]]\nid = "ACME"\n')
service = os.environ.get("EDIGATE_BENCH_SERVICE", "1") != "0"
print(f"{'shape':<6} {'command':<10} {'MB':>7} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12}  summary")
shapes = os.environ.get("EDIGATE_BENCH_SHAPES", "many,one").split(",")
for shape, write in [("many", write_many), ("one", write_one), ("csv", write_csv)]:
    if shape not in shapes:
        continue
    path = os.path.join(folder, f"850-{shape}-{int(mb)}.edi" if shape != "csv" else f"orders-{int(mb)}.csv")
    if not os.path.exists(path):
        write(path, int(mb * 1e6))
    size = os.path.getsize(path) / 1e6
    partner = ["--partner", "ACME"] if shape == "csv" else []
    bound = '\npartner = "ACME"' if shape == "csv" else ""
    runs = [("translate", [binary, "--config", config, "translate"] + partner + [path])]
    if service:
        home = os.path.join(folder, f"service-{shape}")
        remove(home)
        os.makedirs(os.path.join(home, "inbox"))
        with open(os.path.join(home, "edigate.toml"), "w") as f:
            f.write('[service]\nmax_file_mb = 4096\n\n'
                    f'[[channels]]\nname = "in"\ntype = "dir"\npath = "inbox"{bound}\n'
                    '\n[[partners]]\nid = "ACME"\n')
        os.link(path, os.path.join(home, "inbox", os.path.basename(path)))
        runs.append(("once", [binary, "--config", os.path.join(home, "edigate.toml"), "once"]))
    for command, cmd in runs:
        secs, err, rss, code = peak(cmd)
        last = err.strip().splitlines()[-1] if err.strip() else f"exit {code}"
        print(f"{shape:<6} {command:<10} {size:7.1f} {secs:8.2f} {size / secs:7.1f} {rss:12.1f}  {last[-60:]}")
    if service:
        remove(home)
if tmp:
    tmp.cleanup()
