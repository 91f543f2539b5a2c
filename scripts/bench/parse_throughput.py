#!/usr/bin/env python3
"""Throughput and peak memory of ``sorto parse`` on a large ftrace function log, against baselines.

The log is the real guest fixture ``tests/data/guest/ftrace_function.txt``
(a ``sorto trace`` capture), its header kept once and its event lines
replicated until the file reaches ``--size-mb`` (default 500);
``--log function_graph`` replicates ``ftrace_function_graph.txt`` instead
(without the naive baseline, which reads function lines only).  Every side
runs in its own process on the same file, so its peak RSS is its own:

* ``sorto parse`` as users run it (``--engine auto``: the compiled fast path
  at this size);
* ``sorto parse --engine python``: the reference parsers, what ``sorto parse``
  was before the fast path (the two tables are compared byte for byte);
* the naive baseline most scripts start as: read the whole file, match one
  regular expression per line, keep every row in a list of dicts, write the
  CSV at the end;
* ``LC_ALL=C grep -cE`` of the line shape: roughly the cost of reading the
  file and running a DFA over it, a floor no parser writing a table reaches.

The sides run interleaved, ``--repeats`` times, in a rotating order, so a
burst of load on this shared machine hits every side alike; the table shows
min and median of the seconds (and MB/s) and of the peak RSS, and the ratios
of each side to ``sorto parse`` are taken within a round, then summarised.
``--flat-mb`` also runs ``sorto parse`` on a smaller copy of the log in the
same rounds (with ``--engine fast``, whatever the size): its peak RSS next to
the full size shows memory does not grow with the file.  One untimed run
first lets numba compile and cache the kernels, a one-time cost after an
install (docs/parse.md).  A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUEST = REPO / "tests" / "data" / "guest"
#: ``--log``: the capture replicated, and the line shape grep counts.
LOGS = {
    "function": (GUEST / "ftrace_function.txt", r"^ *.+-[0-9]+ +\[[0-9]+\] .*[0-9]: .+ <-"),
    "function_graph": (GUEST / "ftrace_function_graph.txt", r"^ *[0-9]+\) .*\| *[^ =]"),
}
FIXTURE = LOGS["function"][0]

NAIVE = r"""
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
"""

# Run a command, then print its wall time and the peak RSS of the child (KiB).
MEASURE = r"""
import json, resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True, env=dict(__import__("os").environ, LC_ALL="C"))
dt = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": r.returncode, "seconds": dt, "maxrss_kb": rss,
                  "stdout": r.stdout[-2000:], "stderr": r.stderr[-2000:]}))
"""

OURS = "sorto parse"
REFERENCE = "sorto parse --engine python"
NAIVE_NAME = "naive regex, all in memory"
GREP = "grep -cE (line shape)"


def build_log(path: Path, size_mb: int, fixture: Path = FIXTURE) -> int:
    """Write the fixture's header once and its event lines until ``size_mb``; return the line count."""
    text = fixture.read_text()
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


def measure(argv: list[str], ok_rc: tuple[int, ...] = (0,)) -> dict:
    """Run ``argv`` in a fresh process; its seconds, peak RSS and output."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, check=True).stdout
    res = json.loads(out)
    if res["rc"] not in ok_rc:
        raise RuntimeError(f"{' '.join(argv)} failed: {res['stderr']}")
    return res


def sorto_rows(res: dict) -> int:
    return int(json.loads(res["stdout"])[0]["rows"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--log",
        choices=sorted(LOGS),
        default="function",
        help="which guest capture to replicate (default function; the naive baseline reads only that)",
    )
    p.add_argument("--size-mb", type=int, default=500, help="size of the replicated log (default 500)")
    p.add_argument(
        "--flat-mb",
        type=int,
        default=0,
        help="also parse a log of this size in each round, to show peak RSS flat in file size",
    )
    p.add_argument("--repeats", type=int, default=3, help="rounds of interleaved runs (default 3)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive baseline (it holds the whole log)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="where to write the log, created if missing (default: a temp dir)")
    args = p.parse_args(argv)

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sorto-bench-parse-", dir=args.workdir))
    py = sys.executable
    results: dict[str, list[dict]] = {}
    rows: dict[str, int] = {}
    try:
        fixture, shape = LOGS[args.log]
        log = work / f"ftrace_{args.log}_big.txt"
        nlines = build_log(log, args.size_mb, fixture)
        mb = log.stat().st_size / 1e6
        sides: dict[str, list[str]] = {
            OURS: [py, "-m", "sorto", "parse", str(log), "--out", str(work / "fast"), "--json"],
            REFERENCE: [
                py,
                "-m",
                "sorto",
                "parse",
                str(log),
                "--out",
                str(work / "ref"),
                "--json",
                "--engine",
                "python",
            ],
            GREP: ["grep", "-cE", shape, str(log)],
        }
        if not args.no_naive and args.log == "function":
            sides[NAIVE_NAME] = [py, "-c", NAIVE, str(log), str(work / "naive.csv")]
        sizes = {name: mb for name in sides}
        if args.flat_mb:
            small = work / f"ftrace_{args.log}_small.txt"
            build_log(small, args.flat_mb, fixture)
            flat = f"{OURS} --engine fast, {args.flat_mb} MB"
            sides[flat] = [
                py,
                "-m",
                "sorto",
                "parse",
                str(small),
                "--out",
                str(work / "small"),
                "--json",
                "--engine",
                "fast",
            ]
            sizes[flat] = small.stat().st_size / 1e6
        names = list(sides)
        # Not timed: numba compiles the kernels on the first use after an install (10-20 s, then cached).
        measure([py, "-m", "sorto", "parse", str(fixture), "--out", str(work / "warm"), "--engine", "fast"])
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]  # rotate: no side always runs first
            for name in order:
                res = measure(sides[name], ok_rc=(0, 1) if name == GREP else (0,))
                results.setdefault(name, []).append(res)
                rows[name] = int(res["stdout"].split()[-1]) if name in (GREP, NAIVE_NAME) else sorto_rows(res)
        a = next((work / "fast").glob("*.csv"))
        b = next((work / "ref").glob("*.csv"))
        identical = filecmp.cmp(a, b, shallow=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"parse throughput: {mb:.0f} MB ftrace {args.log} log ({nlines} lines) replicated from {fixture.name}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.repeats} interleaved rounds"
    )
    print(
        f"{'side':<36} {'rows':>9} {'s min':>7} {'s med':>7} {'MB/s max':>9} {'MB/s med':>9} "
        f"{'RSS MiB min':>12} {'RSS MiB med':>12}"
    )
    for name in names:
        secs = [r["seconds"] for r in results[name]]
        rss = [r["maxrss_kb"] / 1024 for r in results[name]]
        print(
            f"{name:<36} {rows[name]:>9} {min(secs):>7.2f} {statistics.median(secs):>7.2f} "
            f"{sizes[name] / min(secs):>9.1f} {sizes[name] / statistics.median(secs):>9.1f} "
            f"{min(rss):>12.0f} {statistics.median(rss):>12.0f}"
        )
    print(f"tables of '{OURS}' and '{REFERENCE}' byte-identical: {'yes' if identical else 'NO'}")
    print(f"ratios to '{OURS}' within each round (time: other/ours; RSS: ours/other), min and median:")
    for name in names:
        if name == OURS:
            continue
        t = [o["seconds"] / u["seconds"] for o, u in zip(results[name], results[OURS])]
        m = [u["maxrss_kb"] / o["maxrss_kb"] for o, u in zip(results[name], results[OURS])]
        print(
            f"  {name:<34} time x{min(t):.2f} / x{statistics.median(t):.2f}   "
            f"RSS x{min(m):.3f} / x{statistics.median(m):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
