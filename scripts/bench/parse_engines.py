#!/usr/bin/env python3
"""The engine comparison behind ``sorto parse``'s fast path (docs/parse.md, "Fast path").

Parses one ftrace function log (``--log``, e.g. the log ``parse_throughput.py``
builds) with each engine in its own process, in interleaved rounds, and
prints min and median of MB/s and peak RSS:

* ``numba``: ``sorto parse --engine fast`` (what ``sorto parse`` does);
* ``python``: ``sorto parse --engine python`` (the reference parsers);
* ``polars`` and ``pyarrow``: the log read in 8 MiB chunks of whole lines by
  the engine's own CSV reader (one column per line), the eight fields of
  ``ftrace._FUNC_FAST`` extracted by the engine's regex (Rust ``regex``,
  RE2) and written by its CSV writer.  That is less work than ``sorto parse``
  (no number normalisation, no ``line`` column, no fallback for other lines,
  not the same bytes), so an upper bound of what a table from that engine
  costs.  An engine that is not installed is skipped (neither is a dependency
  of sorto).

A benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHUNK = r'''
import io, resource, sys, time
PAT = (r"^\s*(?P<task>.*?)-(?P<pid>\d+)\s+(?:\(\s*(?P<tgid>-+|\d+)\)\s+)?\[(?P<cpu>\d+)\]\s+"
       r"(?:(?P<flags>[^\s:]{4,6})\s+)?(?P<ts>\d+(?:\.\d+)?):\s\s*(?P<fn>\S+?)\s+<-(?P<parent>\S+)\s*$")
CH = 8 << 20


def chunks(path):
    with open(path, "rb") as f:
        rest = b""
        while True:
            b = f.read(CH)
            if not b:
                if rest:
                    yield rest
                return
            b = rest + b
            k = b.rfind(b"\n") + 1
            rest = b[k:]
            yield b[:k]


def run_polars(path, out):
    import polars as pl
    with open(out, "wb") as o:
        for c in chunks(path):
            df = pl.read_csv(io.BytesIO(c), has_header=False, separator="\x1f", quote_char=None,
                             new_columns=["l"], schema={"l": pl.Utf8}, comment_prefix="#")
            df = df.select(pl.col("l").str.extract_groups(PAT)).unnest("l").drop_nulls("fn")
            df.write_csv(o, include_header=False)


def run_pyarrow(path, out):
    import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pcsv
    ro = pcsv.ReadOptions(column_names=["l"])
    po = pcsv.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False)
    co = pcsv.ConvertOptions(column_types={"l": pa.string()})
    with open(out, "wb") as o:
        for c in chunks(path):
            t = pcsv.read_csv(io.BytesIO(c), read_options=ro, parse_options=po, convert_options=co)
            s = pc.extract_regex(t.column("l"), PAT).combine_chunks()
            tb = pa.Table.from_arrays(s.flatten(), names=[f.name for f in s.type])
            tb = tb.filter(pc.is_valid(tb.column("fn")))
            pcsv.write_csv(tb, o, pcsv.WriteOptions(include_header=False))


{"polars": run_polars, "pyarrow": run_pyarrow}[sys.argv[1]](sys.argv[2], sys.argv[3])
'''

# Run a command, then print its wall time and the peak RSS of the child (KiB).
MEASURE = r'''
import json, resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": r.returncode, "seconds": time.monotonic() - t, "err": r.stderr[-1000:],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
'''


def installed(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--log", type=Path, required=True, help="an ftrace function log")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    args = p.parse_args(argv)
    mb = args.log.stat().st_size / 1e6
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="sorto-bench-engines-") as tmp:
        sides = {
            "numba (sorto parse --engine fast)": [py, "-m", "sorto", "parse", str(args.log), "--out", tmp,
                                                  "--engine", "fast"],
            "python (sorto parse --engine python)": [py, "-m", "sorto", "parse", str(args.log), "--out", tmp,
                                                     "--engine", "python"],
        }
        for eng in ("polars", "pyarrow"):
            if installed(eng):
                sides[f"{eng} (regex extract, chunks)"] = [py, "-c", CHUNK, eng, str(args.log), f"{tmp}/{eng}.csv"]
            else:
                print(f"{eng}: not installed, skipped")
        subprocess.run(sides[next(iter(sides))], check=True, capture_output=True)  # numba compiles once, untimed
        res: dict[str, list[dict]] = {n: [] for n in sides}
        names = list(sides)
        for r in range(args.repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:
                out = subprocess.run([py, "-c", MEASURE, *sides[name]], capture_output=True, text=True, check=True)
                m = json.loads(out.stdout)
                if m["rc"] != 0:
                    raise RuntimeError(f"{name}: {m['err']}")
                res[name].append(m)
    print(f"engines on {args.log.name}, {mb:.0f} MB, {args.repeats} interleaved rounds")
    print(f"{'engine':<40} {'MB/s max':>9} {'MB/s med':>9} {'RSS MiB min':>12} {'RSS MiB med':>12}")
    for name in names:
        secs = [m["seconds"] for m in res[name]]
        rss = [m["maxrss_kb"] / 1024 for m in res[name]]
        print(f"{name:<40} {mb / min(secs):>9.1f} {mb / statistics.median(secs):>9.1f} {min(rss):>12.0f} "
              f"{statistics.median(rss):>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
