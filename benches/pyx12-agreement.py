#!/usr/bin/env python3
"""Compares edigate's acknowledgements with pyx12's expected ones (`*.997.base` in the shared
corpus), case by case, at the envelope level: TA1 status and note code, AK5 envelope codes
(2 missing trailer, 3 ST/SE control mismatch, 4 SE01 count, 6/7 bad ST01/ST02, 23 duplicate
ST02) and AK9 group codes. pyx12 also validates HIPAA implementation guides (834, 835, 837,
270, 278), which edigate does not define, so AK3/AK4 and AK5 code 5 are listed but not scored.

usage: python3 benches/pyx12-agreement.py [CORPUS_DIR] [EDIGATE]
"""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../shared/corpus/x12/pyx12")
edigate = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "../target/release/edigate")
ENVELOPE_AK5 = {"2", "3", "4", "6", "7", "23"}


def segments(text):
    text = text.replace("\r", "").replace("\n", "")
    if not text.startswith("ISA"):
        return []
    term = text[105] if len(text) > 105 else "~"
    return [s.split(text[3]) for s in text.split(term) if s.strip()]


def summary(text):
    """TA1s, and per group: AK9 status/codes and per transaction AK5 status/envelope codes."""
    ta1, groups, cur = [], [], None
    for el in segments(text):
        tag = el[0].strip()
        if tag == "TA1":
            ta1.append((el[4] if len(el) > 4 else "", el[5] if len(el) > 5 else ""))
        elif tag == "AK1":
            cur = {"gs": el[2] if len(el) > 2 else "", "tx": [], "ak9": None, "ak3": 0}
            groups.append(cur)
        elif tag == "AK3" and cur is not None:
            cur["ak3"] += 1
        elif tag == "AK5" and cur is not None:
            codes = set(c for c in el[2:] if c)
            cur["tx"].append((el[1], tuple(sorted(codes & ENVELOPE_AK5)), "5" in codes))
        elif tag == "AK9" and cur is not None:
            cur["ak9"] = (el[1], tuple(sorted(c for c in el[5:] if c)))
    return ta1, groups


def main():
    cases = sorted(f[: -len(".997.base")] for f in os.listdir(corpus) if f.endswith(".997.base"))
    agree = 0
    for case in cases:
        src = os.path.join(corpus, case + ".txt")
        want = open(os.path.join(corpus, case + ".997.base"), encoding="latin-1").read()
        got = subprocess.run([edigate, "ack", src], capture_output=True).stdout.decode("latin-1")
        wt, wg = summary(want)
        gt, gg = summary(got)
        diffs = []
        if wt != gt:
            diffs.append("TA1 pyx12 %s, edigate %s" % (wt or "none", gt or "none"))
        for i, w in enumerate(wg):
            g = next((x for x in gg if x["gs"] == w["gs"]), None)
            if g is None:
                diffs.append("group %s: no 997 from edigate" % w["gs"])
                continue
            wenv = [t[1] for t in w["tx"]]
            genv = [t[1] for t in g["tx"]]
            if wenv != genv:
                diffs.append("group %s AK5 envelope codes pyx12 %s, edigate %s" % (w["gs"], wenv, genv))
            if w["ak9"] and g["ak9"] and w["ak9"][1] != g["ak9"][1]:
                diffs.append("group %s AK9 codes pyx12 %s, edigate %s" % (w["gs"], w["ak9"][1], g["ak9"][1]))
            notes = []
            if w["ak3"]:
                notes.append("pyx12 AK3 x%d (implementation guide)" % w["ak3"])
            if any(t[2] for t in w["tx"]):
                notes.append("pyx12 AK5 code 5")
        verdict = "agree" if not diffs else "differ"
        agree += not diffs
        print("%-22s %s%s" % (case, verdict, "".join("\n    - " + d for d in diffs)))
    print("\nenvelope-level agreement: %d of %d cases (%.0f%%)" % (agree, len(cases), 100.0 * agree / max(1, len(cases))))


if __name__ == "__main__":
    main()
