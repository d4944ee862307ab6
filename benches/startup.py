#!/usr/bin/env python3
"""Start-up cost of one command on a small file (issue goal: under 20 ms), whole process,
median of 25 runs after 3 warm-ups, for validate/translate/ack of one small X12 850, 810 and
EDIFACT INVOIC, and `--version` as the floor (process start alone).

    cargo build --release && python3 benches/startup.py
"""
import os, statistics, subprocess, sys, time

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.path.join(here, "target", "release", "edigate")
data = os.path.join(here, "tests", "data")
cases = [
    ("--version", []),
    ("validate 850", ["validate", f"{data}/x12/ok/850-4010-acme.edi"]),
    ("translate 850", ["translate", f"{data}/x12/ok/850-4010-acme.edi"]),
    ("translate 810", ["translate", f"{data}/x12/ok/810-4010-invoice-with-charges.edi"]),
    ("translate INVOIC", ["translate", f"{data}/edifact/ok/invoic-d96a-with-tax.edi"]),
    ("ack 850", ["ack", f"{data}/x12/ok/850-4010-acme.edi"]),
]
if not os.path.exists(binary):
    sys.exit("build first: cargo build --release")
for name, args in cases:
    times = []
    for i in range(28):
        t = time.perf_counter()
        subprocess.run([binary] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")
        if i >= 3:
            times.append(time.perf_counter() - t)
    print(f"{name:<18} median {statistics.median(times) * 1e3:6.1f} ms   min {min(times) * 1e3:6.1f} ms")
