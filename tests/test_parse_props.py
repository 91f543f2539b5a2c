"""Property-based tests of ``sorto parse``: lines generated from each format's grammar.

These are not fixtures: they exercise the grammar's corners (names with
dashes, optional columns, nesting) that a single real capture cannot.  The
ftrace function, function_graph and function-profile renderings follow
Documentation/trace/ftrace.rst and the kernel's print functions, since the
capture host refuses those tracers (see tests/data/README.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sorto.parse.detect import detect_lines

from .test_parse_helpers import parse_text

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ident = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
task = st.from_regex(r"[A-Za-z][A-Za-z0-9_./:-]{0,14}", fullmatch=True).filter(lambda s: not s.endswith("-"))
cpu = st.integers(0, 63)
ts = st.integers(0, 10**9).map(lambda us: f"{us // 1000000}.{us % 1000000:06d}")


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="sorto-prop-"))


# --- strace per-call lines --------------------------------------------------

call = st.fixed_dictionaries({
    "pid": st.one_of(st.none(), st.integers(1, 4194304)),
    "name": ident,
    "args": st.from_regex(r'[A-Za-z0-9_, "|/=.{}\[\]]{0,40}', fullmatch=True),
    "ret": st.one_of(st.integers(-1, 10**6), st.integers(0, 2**48).map(hex)),
    "errno": st.one_of(st.none(), st.sampled_from(["ENOENT", "EAGAIN", "EINTR"])),
    "dur": st.one_of(st.none(), st.integers(0, 10**6)),
    "split": st.booleans(),
})


def _stamp(style: str, i: int) -> str:
    return {"none": "", "r": f"{i * 0.000001:12.6f} ", "t": "11:28:56 ", "tt": f"11:28:56.{i:06d} ",
            "ttt": f"1795778936.{i:06d} "}[style]


@SETTINGS
@given(st.lists(call, min_size=1, max_size=12), st.sampled_from(["none", "r", "t", "tt", "ttt"]))
def test_strace_lines_round_trip(calls: list[dict], style: str) -> None:
    lines = []
    pid_mode = calls[0]["pid"] is not None
    for i, c in enumerate(calls):
        pre = (f"{c['pid'] or 1:<5} " if pid_mode else "") + _stamp(style, i)
        ret = c["ret"] if not c["errno"] else -1
        tail = f"= {ret}" + (f" {c['errno']} (Some text)" if c["errno"] else "")
        tail += f" <{c['dur'] / 1e6:.6f}>" if c["dur"] is not None else ""
        if c["split"] and pid_mode:  # as strace -f splits: after an argument, or before none
            if c["args"]:
                lines.append(f"{pre}{c['name']}({c['args']}, <unfinished ...>")
                lines.append(f"{pre}<... {c['name']} resumed>0) {tail}")
                c["args"] += ", 0"
            else:
                lines.append(f"{pre}{c['name']}( <unfinished ...>")
                lines.append(f"{pre}<... {c['name']} resumed>) {tail}")
        else:
            lines.append(f"{pre}{c['name']}({c['args']}) {tail}")
    assert detect_lines(lines) == "strace_timestamps"
    res, rows = parse_text("\n".join(lines) + "\n", _tmp())
    assert res.rows == len(calls)
    for c, r in zip(calls, rows):
        assert r["syscall"] == c["name"] and r["args"] == c["args"]
        assert r["retval"] == str(c["ret"] if not c["errno"] else -1)
        assert r["errno"] == (c["errno"] or "")
        assert r["pid"] == (str(c["pid"] or 1) if pid_mode else "")
        if c["dur"] is not None:
            assert float(r["duration"]) == round(c["dur"] / 1e6, 6)


# --- strace -c tables --------------------------------------------------------

srow = st.tuples(ident, st.integers(1, 10**6), st.integers(0, 1000), st.integers(0, 10**7))


@SETTINGS
@given(st.lists(srow, min_size=1, max_size=20, unique_by=lambda r: r[0]).filter(
    lambda rs: all(r[0] != "total" for r in rs)))
def test_strace_summary_total(rows: list[tuple[str, int, int, int]]) -> None:
    tot_us = sum(r[3] for r in rows) or 1
    out = ["% time     seconds  usecs/call     calls    errors syscall",
           "------ ----------- ----------- --------- --------- ----------------"]
    for name, calls, errs, us in rows:
        e = f"{errs:9d}" if errs else " " * 9
        out.append(f"{100 * us / tot_us:6.2f} {us / 1e6:11.6f} {us // calls:11d} {calls:9d} {e} {name}")
    out.append(out[1])
    te = sum(r[2] for r in rows)
    tc = sum(r[1] for r in rows)
    out.append(f"100.00 {sum(r[3] for r in rows) / 1e6:11.6f} {sum(r[3] for r in rows) // tc:11d} {tc:9d} "
               f"{te if te else '':>9} total")
    assert detect_lines(out) == "strace_summary"
    res, table = parse_text("\n".join(out) + "\n", _tmp())
    assert res.rows == len(rows) + 1
    assert sum(int(r["calls"]) for r in table[:-1]) == int(table[-1]["calls"])
    assert [int(r["errors"]) for r in table[:-1]] == [r[2] for r in rows]


# --- ftrace function / event lines --------------------------------------------

fline = st.tuples(task, st.integers(1, 4194304), cpu, st.sampled_from(["d.h..", "....", "dNs3.", None]), ts,
                  ident, ident)


def _ftrace_prefix(t: str, pid: int, c: int, flags: str | None, stamp: str) -> str:
    fl = f"{flags} " if flags else ""
    return f"{t + '-' + str(pid):>16}  [{c:03d}] {fl} {stamp}: "


@SETTINGS
@given(st.lists(fline, min_size=1, max_size=20))
def test_ftrace_function_lines(lines: list[tuple]) -> None:
    text = [_ftrace_prefix(*ln[:5]) + f"{ln[5]} <-{ln[6]}" for ln in lines]
    assert detect_lines(text) == "ftrace_function"
    res, rows = parse_text("# tracer: function\n#\n" + "\n".join(text) + "\n", _tmp())
    assert res.rows == len(lines)
    for ln, r in zip(lines, rows):
        assert (r["task"], r["pid"], r["cpu"], r["function"], r["parent"]) == (ln[0], str(ln[1]), str(ln[2]),
                                                                              ln[5], ln[6])
        assert r["flags"] == (ln[3] or "") and float(r["timestamp"]) == float(ln[4])


@SETTINGS
@given(st.lists(fline, min_size=1, max_size=20))
def test_ftrace_event_lines(lines: list[tuple]) -> None:
    text = [_ftrace_prefix(*ln[:5]) + f"{ln[5]}: {ln[6]}=1 x=y" for ln in lines]
    assert detect_lines(text) == "ftrace_events"
    res, rows = parse_text("\n".join(text) + "\n", _tmp())
    assert res.rows == len(lines)
    assert [r["event"] for r in rows] == [ln[5] for ln in lines]
    assert [r["details"] for r in rows] == [f"{ln[6]}=1 x=y" for ln in lines]


# --- function_graph -------------------------------------------------------------

# A module's function carries its module, as the kernel prints it ("%ps"): "sorto_exit_probe [sorto_hook]".
fname = st.one_of(ident, st.builds(lambda f, m: f"{f} [{m}]", ident, ident))
tree = st.recursive(st.tuples(fname, st.just([])), lambda kids: st.tuples(fname, st.lists(kids, max_size=3)),
                    max_leaves=12)


def _render(node: tuple, depth: int, out: list[str], proc: str) -> float:
    name, kids = node

    def line(dur: float | None, body: str) -> str:
        d = f"  {dur:7.3f} us   " if dur is not None else " " * 14
        if dur is not None and dur > 10:
            d = "+" + d[1:]
        return f" 0) {proc}{d}|  {'  ' * depth}{body}"

    if not kids:
        dur = 0.5 + len(name) / 10
        out.append(line(dur, f"{name}();"))
        return dur
    out.append(line(None, f"{name}() {{"))
    dur = sum(_render(k, depth + 1, out, proc) for k in kids) + 1.0
    out.append(line(dur, "}"))
    return dur


def _count(node: tuple) -> int:
    return 1 + sum(_count(k) for k in node[1])


@SETTINGS
@given(st.lists(tree, min_size=1, max_size=4), st.booleans())
def test_function_graph_tree(roots: list[tuple], with_proc: bool) -> None:
    out = ["# tracer: function_graph", "#", "# CPU  DURATION                  FUNCTION CALLS",
           "# |     |   |                     |   |   |   |"]
    proc = "   bash-1234    | " if with_proc else ""
    durs = [_render(r, 0, out, proc) for r in roots]
    res, rows = parse_text("\n".join(out) + "\n", _tmp())
    assert res.rows == sum(_count(r) for r in roots)
    assert all(r["complete"] == "true" for r in rows)
    top = [r for r in rows if r["depth"] == "0"]
    assert [r["function"] for r in top] == [r[0] for r in roots]
    assert [float(r["duration_us"]) for r in top] == [round(d, 3) for d in durs]
    if with_proc:
        assert {r["pid"] for r in rows} == {"1234"}


# --- function profiler -------------------------------------------------------------

prow = st.tuples(ident, st.integers(0, 10**7), st.integers(0, 10**9))


@SETTINGS
@given(st.lists(st.lists(prow, min_size=1, max_size=8), min_size=1, max_size=3), st.booleans())
def test_function_profile(blocks: list[list[tuple]], timed: bool) -> None:
    out = []
    for blk in blocks:
        if timed:
            out += ["  Function                               Hit    Time            Avg             s^2",
                    "  --------                               ---    ----            ---             ---"]
        else:
            out += ["  Function                               Hit", "  --------                               ---"]
        for fn, hit, t in blk:
            line = f"  {fn:<30.30}  {hit:10d}"
            if timed:
                line += f"    {t} us     {t / max(hit, 1):.3f} us     {t % 997}.{t % 1000:03d} us"
            out.append(line)
        out.append("")
    assert detect_lines(out) == "ftrace_function_profile"
    res, rows = parse_text("\n".join(out) + "\n", _tmp())
    assert res.rows == sum(len(b) for b in blocks)
    flat = [(i, r) for i, b in enumerate(blocks) for r in b]
    for (i, (fn, hit, t)), r in zip(flat, rows):
        assert (r["block"], r["function"], r["hit"]) == (str(i), fn, str(hit))
        assert r["time_us"] == (str(float(t)) if timed else "")


# --- perf script samples ---------------------------------------------------------------

sample = st.tuples(task, st.integers(1, 4194304), st.one_of(st.none(), cpu), ts, st.integers(1, 10**7),
                   st.integers(0, 2**64 - 1), ident)


@SETTINGS
@given(st.lists(sample, min_size=1, max_size=15))
def test_perf_script_samples(samples: list[tuple]) -> None:
    out = []
    for comm, pid, c, stamp, period, ip, sym in samples:
        cp = f"[{c:03d}] " if c is not None else ""
        out.append(f"{comm:>16} {pid:>6} {cp}{stamp}: {period:>10} cpu-clock:  {ip:x} {sym}+0x1f ([kernel.kallsyms])")
    assert detect_lines(out) == "perf_script"
    res, rows = parse_text("\n".join(out) + "\n", _tmp())
    assert res.rows == len(samples)
    for s, r in zip(samples, rows):
        assert (r["comm"], r["pid"], r["cpu"], r["period"], r["ip"], r["symbol"]) == (
            s[0], str(s[1]), "" if s[2] is None else str(s[2]), str(s[4]), f"{s[5]:x}", s[6])
