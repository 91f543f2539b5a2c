#!/usr/bin/env python3
"""Throughput and peak memory of ``sorto parse`` on a large ftrace log, against a naive baseline.

The log is the real guest fixture ``tests/data/guest/ftrace_function.txt``
(a ``sorto trace`` capture), its header kept once and its event lines
replicated until the file reaches ``--size-mb`` (default 500).  Both parsers
run in their own process on the same file in the same run, so their peak
RSS is their own:

* ``sorto parse FILE --out DIR`` (content detection, streaming, CSV table);
* the naive baseline most scripts start as: read the whole file, match one
  regular expression per line, keep every row in a list of dicts, write the
  CSV at the end.

Prints MB/s, seconds, peak RSS and the ratios sorto/baseline.  This is a
benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "data" / "guest" / "ftrace_function.txt"

NAIVE = r'''
import csv, re, sys
LINE = re.compile(r"^\s*(.*?)-(\d+)\s+\[(\d+)\]\s+(\S+)\s+(\d+\.\d+):\s+(\S+?)(?:\s+<-(\S+))?\s*$")
rows = []
with open(sys.argv[1]) as f:
    text = f.read()
for line in text.splitlines():
    m = LINE.match(line)
    if m:
        rows.append(dict(zip(("task", "pid", "cpu", "flags", "ts", "function", "parent"), m.groups())))
with open(sys.argv[2], "w", newline="") as out:
    w = csv.DictWriter(out, fieldnames=["task", "pid", "cpu", "flags", "ts", "function", "parent"])
    w.writeheader()
    w.writerows(rows)
print(len(rows))
'''

# Run a command, then print its wall time and the peak RSS of the child (KiB).
MEASURE = r'''
import json, resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
dt = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": r.returncode, "seconds": dt, "maxrss_kb": rss,
                  "stdout": r.stdout[-2000:], "stderr": r.stderr[-2000:]}))
'''


def build_log(path: Path, size_mb: int) -> int:
    """Write the fixture's header once and its event lines until ``size_mb``; return the line count."""
    text = FIXTURE.read_text()
    lines = text.splitlines(keepends=True)
    header = [ln for ln in lines if ln.lstrip().startswith("#")]
    body = "".join(ln for ln in lines if not ln.lstrip().startswith("#") and ln.strip())
    n_body = body.count("\n")
    target = size_mb * 1_000_000
    n = len(header)
    with path.open("w") as f:
        f.writelines(header)
        while f.tell() < target:
            f.write(body)
            n += n_body
    return n


def measure(argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, check=True).stdout
    res = json.loads(out)
    if res["rc"] != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {res['stderr']}")
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=500, help="size of the replicated log (default 500)")
    p.add_argument("--workdir", type=Path, default=None, help="where to write the log (default: a temp dir)")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sorto-bench-parse-", dir=args.workdir))
    try:
        log = work / "ftrace_function_big.txt"
        nlines = build_log(log, args.size_mb)
        mb = log.stat().st_size / 1e6
        ours = measure([sys.executable, "-m", "sorto", "parse", str(log), "--out", str(work / "out"), "--json"])
        rows = json.loads(ours["stdout"])[0]["rows"]
        naive = measure([sys.executable, "-c", NAIVE, str(log), str(work / "naive.csv")])
        naive_rows = int(naive["stdout"].split()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"parse throughput: {mb:.0f} MB ftrace function log ({nlines} lines) replicated from {FIXTURE.name}, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'parser':<28} {'rows':>10} {'seconds':>9} {'MB/s':>8} {'peak RSS MiB':>13}")
    for name, r, n in (("sorto parse (streaming)", ours, rows), ("naive regex, all in memory", naive, naive_rows)):
        print(f"{name:<28} {n:>10} {r['seconds']:>9.1f} {mb / r['seconds']:>8.1f} {r['maxrss_kb'] / 1024:>13.0f}")
    print(f"{'ratio sorto/naive':<28} {'':>10} {ours['seconds'] / naive['seconds']:>9.2f} "
          f"{naive['seconds'] / ours['seconds']:>8.2f} {ours['maxrss_kb'] / naive['maxrss_kb']:>13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
