"""The fast path of ``sorto parse`` (sorto/parse/fast.py) against the reference parsers, byte for byte.

The reference (``--engine python``) defines the output; the compiled kernels
must write the same CSV bytes and report the same rows, skipped lines,
partial flag and notes, and fail on the same line with the same message in
strict mode.  Logs are generated: well-formed lines in every variant the
regular expressions allow, plus the lines the kernels must hand back to
Python (non-ASCII, fields CSV quotes, numbers only Python prints right,
events, malformed lines, ``\\r``, a truncated last line).  Windows are made
tiny so that window and buffer boundaries fall everywhere.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sorto.errors import SortoError
from sorto.parse import MalformedLine, fast, parse_file
from sorto.parse.detect import detect

from .test_parse_helpers import DATA
from .test_parse_props import tree

pytestmark = pytest.mark.skipif(not fast.available(), reason="numba not installed")

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def _run(path: Path, engine: str, lenient: bool) -> tuple[str, object]:
    """Parse ``path`` with ``engine``: ("ok", (table bytes, result fields)) or ("error", message)."""
    out = Path(tempfile.mkdtemp(prefix=f"sorto-fast-{engine}-"))
    try:
        res = parse_file(path, out, "csv", lenient, engine=engine)
    except SortoError as exc:
        return "error", str(exc)
    table = Path(res.output).read_bytes()  # type: ignore[arg-type]
    return "ok", (table, res.rows, res.skipped, res.partial, res.notes, res.type)


def check_same(path: Path, kind: str) -> None:
    """Both engines agree on ``path`` in strict and lenient mode."""
    assert detect(path) == kind
    for lenient in (False, True):
        ref = _run(path, "python", lenient)
        got = _run(path, "fast", lenient)
        assert got == ref, (lenient, path.read_bytes()[:2000])


@pytest.fixture(autouse=True)
def tiny_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of a few lines: every boundary case (full buffer, line longer than a window) happens."""
    monkeypatch.setattr(fast, "WINDOW", 256)


# --- ftrace function ------------------------------------------------------------------

task = st.one_of(
    st.from_regex(r"[A-Za-z<][A-Za-z0-9_./:>-]{0,14}", fullmatch=True),
    st.sampled_from(
        ["<idle>", "kworker/0:1-12", "a b", "x-1 [2]", "sh -c", "-", "a--3", "émoji✓", "co,mma", 'quo"te', ""]
    ),
)
num = st.one_of(st.integers(0, 4194304).map(str), st.sampled_from(["007", "0", "00"]))
stamp = st.one_of(
    st.integers(0, 10**9).map(lambda us: f"{us // 1000000:5d}.{us % 1000000:06d}"),
    st.sampled_from(
        [
            "0.000000",
            "0.000001",
            "0.00012",
            "0.0001",
            "10",
            "0010.500",
            "12345678901234.5",
            "1234567890123456.0",
            "99999999999999999.0",
            "0.0000",
            "1.23456789012345678",
            "123.4560000000000000001",
            "9007199254740993.0",
        ]
    ),
)
flags = st.sampled_from(["d.h..", "....", "dNs3.", ".....", "d..1", "dnh2.1", None, "abc", "abcdefg", "d:h.."])
ident = st.from_regex(r"[a-z_][a-z0-9_.]{0,20}", fullmatch=True)
fname = st.one_of(ident, st.sampled_from(["a<-b", "f,g", "ünï", "x\ty"]))


@st.composite
def function_line(draw: st.DrawFn) -> str:
    """One line of a function trace: mostly calls, in every prefix variant, and the odd ones out."""
    kind = draw(
        st.sampled_from(["call"] * 8 + ["tgid", "noparent", "event", "blank", "comment", "bad", "lost", "spaces", "cr"])
    )
    t, pid, c, fl, ts = draw(task), draw(num), draw(num), draw(flags), draw(stamp)
    fn, parent = draw(fname), draw(fname)
    tg = f"({draw(st.sampled_from(['  123', '-----', '0042', '1']))}) " if kind == "tgid" else ""
    prefix = f"{t + '-' + pid:>16} {tg} [{c}] {fl + ' ' if fl else ''} {ts}: "
    if kind == "noparent":
        return prefix + fn
    if kind == "event":
        return prefix + f"sched_switch: prev_comm={t} prev_pid={pid}"
    if kind == "blank":
        return draw(st.sampled_from(["", "   "]))
    if kind == "comment":
        return draw(st.sampled_from(["# tracer: function", "#", "  # x-1 [0] .... 1.0: a <-b"]))
    if kind == "bad":
        return draw(st.sampled_from(["garbage", "x-1 [0] 1.0:", "x-1 [0] 1.0: a b c", "x-1 [z] 1.0: a <-b"]))
    if kind == "lost":
        return "CPU:1 [LOST 12 EVENTS]"
    if kind == "spaces":
        return prefix.replace(" ", "  ") + f"{fn}   <-{parent}   "
    if kind == "cr":
        return prefix + f"{fn} <-{parent}\r"
    return prefix + f"{fn} <-{parent}"


@SETTINGS
@given(st.lists(function_line(), min_size=1, max_size=40), st.sampled_from(["\n", "", "cut", "\r", "\r\n"]))
def test_function_same_as_reference(tmp_path: Path, lines: list[str], ending: str) -> None:
    head = "# tracer: function\n#\n"
    body = "\n".join(lines)
    if ending == "cut":
        body = body[: max(0, len(body) - 5)]
    elif ending == "\r":
        body = body.replace("\n", "\r", 1) + "\n"
    else:
        body += ending
    p = tmp_path / "function.txt"
    p.write_bytes((head + body).encode("utf-8"))
    check_same(p, "ftrace_function")


def test_function_stray_bytes_and_long_lines(tmp_path: Path) -> None:
    """Invalid UTF-8, a control byte (past the head detection reads), a line longer than the output buffer."""
    good = "  bash-12  [001] d.h..  10.500000: f <-g\n"
    data = (
        b"# tracer: function\n"
        + good.encode() * 150
        + b"  b\xff\xfesh-1 [0] .... 1.5: f <-g\n"
        + good.encode()
        + b"  ba\x01sh-1 [0] .... 1.5: f <-g\n"
        + f"  bash-1 [0] .... 1.5: {'f' * 3000} <-g\n".encode()
        + good.encode() * 30
    )
    p = tmp_path / "function.txt"
    p.write_bytes(data)
    check_same(p, "ftrace_function")


_BIG = "1" * 4400  # more digits than int() takes (sys.get_int_max_str_digits(), 4300 by default)
_ZEROS = "0" * 4300 + "1"  # leading zeros count too


@pytest.mark.parametrize(
    "text",
    [
        f"# tracer: function\n  bash-{_BIG} [000] .... 1.5: f <-g\n",
        f"# tracer: function\n  bash-1 ({_ZEROS}) [000] .... 1.5: f <-g\n",
        f"# tracer: function\n  bash-1 [{_ZEROS}] .... 1.5: f <-g\n",
        f"# tracer: function_graph\n 0)  |  a() {{\n 0)   bash-{_BIG}  |  |  f();\n 0) 1 us |  }}\n",
    ],
    ids=["function pid", "function tgid", "function cpu", "graph pid"],
)
def test_integers_too_long_for_int(tmp_path: Path, text: str) -> None:
    """An integer field of 4400 digits is a malformed line for both engines, not a crash.

    The kernels printed such a number as its digits, and the reference's
    ``int()`` raised ValueError (it refuses more than 4300 digits); integer
    fields now take at most 19 digits in the reference's patterns, and the
    kernels hand longer ones to it.
    """
    p = tmp_path / "trace.txt"
    p.write_text(text)
    got = []
    for engine in ("python", "fast"):
        with pytest.raises(MalformedLine) as exc:
            parse_file(p, tmp_path / engine, "csv", engine=engine)
        got.append(str(exc.value))
    assert got[0] == got[1] and f"{p}:" in got[0]
    lenient = [parse_file(p, tmp_path / f"l-{e}", "csv", lenient=True, engine=e) for e in ("python", "fast")]
    assert lenient[0].skipped == lenient[1].skipped >= 1
    assert Path(lenient[0].output).read_bytes() == Path(lenient[1].output).read_bytes()


def test_function_guest_fixture(tmp_path: Path) -> None:
    check_same(DATA / "guest" / "ftrace_function.txt", "ftrace_function")


def test_auto_engine_keeps_small_files_on_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` uses the fast path only from MIN_BYTES, only for CSV and only for its types."""
    f = DATA / "guest" / "ftrace_function.txt"
    assert not fast.wanted("ftrace_function", f, "csv", "auto")
    assert fast.wanted("ftrace_function", f, "csv", "fast")
    assert not fast.wanted("ftrace_function", f, "parquet", "fast")
    assert not fast.wanted("ftrace_events", f, "csv", "fast")
    monkeypatch.setattr(fast, "MIN_BYTES", 1)
    assert fast.wanted("ftrace_function", f, "csv", "auto")


def test_kernel_takes_the_plain_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real capture's lines all go through the kernel: the agreement above is not Python agreeing with itself."""
    from sorto.parse import ftrace

    calls: list[int] = []
    real = ftrace.function_row
    monkeypatch.setattr(ftrace, "function_row", lambda ctx, no, text: calls.append(no) or real(ctx, no, text))
    res = parse_file(DATA / "guest" / "ftrace_function.txt", tmp_path, "csv", engine="fast")
    assert res.rows == 988 and calls == []


# --- ftrace function_graph ----------------------------------------------------------------

gbody = st.one_of(
    st.builds(lambda f: f"{f}();", ident),
    st.builds(lambda f: f"{f}() {{", ident),
    st.just("}"),
    st.builds(lambda f: f"}} /* {f} */", ident),
    st.sampled_from(
        [
            "f(); /* = 0x0 */",
            "} /* g = 0x1 */",
            "} /* = -22 */",
            "} /* h=3 */",
            "} /* x = 0*/",
            "} /**/",
            "} /* */",
            "} /*/",
            "g [mod_x]() {",
            "g [mod_x]();",
            "} /* g [mod_x] */",
            "} /* g [mod x] */",
            "k(a) { /* c */",
            "k(a)(b);",
            "k((a));",
            "k();  ",
            "k() ;",
            "/* trace_printk: hello */",
            "/* sched_switch: a ==> b */",
            "==========>",
            "<==========",
            "",
            "garbage(",
            "f(a, b);",
            "ünï();",
            'f("s");',
            "} /* f, g */",
            "}}",
            "f()",
            "(x);",
            "f(); /* = 0x0 */ x",
            "f(){",
            "g [] ();",
            "} /* = */",
        ]
    ),
)


@st.composite
def graph_line(draw: st.DrawFn) -> str:
    """One line of a function_graph trace in any of the option combinations, or one of the other lines."""
    kind = draw(st.sampled_from(["call"] * 10 + ["other"]))
    if kind == "other":
        return draw(
            st.sampled_from(
                [
                    "# tracer: function_graph",
                    "#",
                    " ------------------------------------------",
                    " 1)   bash-12   =>   sh-13  ",
                    " 0)   ==========> |",
                    " 0)   <========== |",
                    "CPU:1 [LOST 3 EVENTS]",
                    "",
                    "   ",
                    "junk",
                    " 0) ",
                    " 9999) | f();",
                    " 12345678901) | f();",
                    " 0)               |  f,g();",
                    "  123.456789 |  0)  <idle>-0  |  ==========> |",
                    " 0)  a => b",
                    " 0) =>  x",
                    " 0)   ==========>   |  ",
                    " 0) ==========> x |",
                    "0)  <==========|",
                    " 0)  x=========> |",
                    " 0)  a =>",
                    " 0)  a => b |",
                    " 1)  <==========  | ",
                    "12.5 | 1)   ==========> |",
                    " 0)  -- | --",
                    " 0)  ==========><========== |",
                ]
            )
        )
    cpu = draw(st.sampled_from(["0", "1", "3", "10", "007"]))
    depth = draw(st.integers(0, 4))
    body = draw(gbody)
    dur = draw(
        st.one_of(
            st.none(),
            st.sampled_from(["0.500", "12.345", "142.704", "31428.22", "7", "0.000", "1234567890123456.5", "0.00001"]),
        )
    )
    ovh = draw(st.sampled_from([" ", "+", "!", "#", "*", "@", "$"])) if dur else " "
    proc = draw(st.sampled_from([None, "bash-1234", "<idle>-0", "kworker/0:1-12", "a b-7", "x-1-2", "é-3"]))
    abstime = draw(st.sampled_from([None, "  123.456789", "5.0", "0.000001"]))
    lat = draw(st.sampled_from([None, "d..1.", "...1", "dn.2."]))
    line = f"{abstime} |  " if abstime else ""
    line += f" {cpu})"
    line += f" {proc:>15}  |" if proc else ""
    line += f"  {lat}  |" if lat else ""
    line += f" {ovh} {dur} us  " if dur else "              "
    line += "|" + " " * draw(st.integers(0, 2)) + "  " * depth + body
    return line


@SETTINGS
@given(st.lists(graph_line(), min_size=1, max_size=50), st.sampled_from(["\n", "", "cut", "\r\n"]))
def test_function_graph_same_as_reference(tmp_path: Path, lines: list[str], ending: str) -> None:
    head = "# tracer: function_graph\n#\n# CPU  DURATION                  FUNCTION CALLS\n"
    body = "\n".join(lines)
    if ending == "cut":
        body = body[: max(0, len(body) - 3)]
    else:
        body += ending
    p = tmp_path / "graph.txt"
    p.write_bytes((head + body).encode("utf-8"))
    check_same(p, "ftrace_function_graph")


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 2), tree), min_size=1, max_size=6), st.booleans(), st.booleans())
def test_function_graph_trees_same_as_reference(
    tmp_path: Path, roots: list[tuple[int, tuple]], with_proc: bool, drop: bool
) -> None:
    """Well-nested call trees on interleaved CPUs, some exits or entries lost (``drop``)."""
    from .test_parse_props import _render

    out = ["# tracer: function_graph", "#"]
    for cpu, root in roots:
        lines: list[str] = []
        _render(root, 0, lines, "   bash-1234    | " if with_proc else "")
        out += [ln.replace(" 0) ", f" {cpu}) ", 1) for ln in lines]
    if drop:
        out = [ln for i, ln in enumerate(out) if i % 7 != 3]
    p = tmp_path / "graph.txt"
    p.write_text("\n".join(out) + "\n")
    check_same(p, "ftrace_function_graph")


def test_function_graph_guest_fixture() -> None:
    check_same(DATA / "guest" / "ftrace_function_graph.txt", "ftrace_function_graph")


def test_function_graph_deep_stacks_grow_the_pool(tmp_path: Path) -> None:
    """More open calls than the kernel's first entry pool, closed by one exit and at the end of the trace."""
    lines = ["# tracer: function_graph"]
    for d in range(1500):
        lines.append(f" 1)               |  {'  ' * (d % 40)}f{d}() {{")
    lines.append(" 1) + 12.000 us   |  }")
    for d in range(1300):
        lines.append(f" 0)               |  {'  ' * d}g{d}() {{")
    p = tmp_path / "graph.txt"
    p.write_text("\n".join(lines) + "\n")
    check_same(p, "ftrace_function_graph")


def test_graph_kernel_takes_the_call_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the real capture no line reaches Python, and nothing is handed over."""
    from sorto.parse import ftrace

    seen: list[str] = []
    real = ftrace.graph_match
    monkeypatch.setattr(ftrace, "graph_match", lambda text: seen.append(text) or real(text))
    monkeypatch.setattr(ftrace.FtraceFunctionGraph, "rows_from", None)  # a hand-over would fail
    res = parse_file(DATA / "guest" / "ftrace_function_graph.txt", tmp_path, "csv", engine="fast")
    assert res.rows == 680
    assert seen == []  # irq markers and context switches are skipped in the kernel too


# --- a log that changes while it is read ----------------------------------------------------

#: Parses argv[1] with the fast path and cuts the file to argv[3] bytes as soon as the first rows are
#: written (the parse is then under way); prints the result or the SortoError as JSON.  In its own
#: process, so that a parser killed by a signal (SIGBUS from a memory-mapped reader) fails the test
#: instead of the test run.
TRUNCATE_CHILD = r"""
import json, os, sys
from pathlib import Path
from sorto.errors import SortoError
from sorto.parse import MalformedLine, fast, parse_file
from sorto.parse.tables import TableWriter

src, out, cut = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
fast.WINDOW = 1 << 16
real = TableWriter.write_csv_bytes

def write(self, data, rows):
    if os.path.getsize(src) > cut:
        os.truncate(src, cut)
    return real(self, data, rows)

TableWriter.write_csv_bytes = write
try:
    res = parse_file(src, out, "csv", engine="fast")
except SortoError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps(res.as_dict()))
"""


def _replicated(fixture: Path, path: Path, size: int) -> bytes:
    """Write ``fixture``'s header once and its other lines over and over up to ``size`` bytes (as the bench)."""
    lines = fixture.read_bytes().splitlines(keepends=True)
    head = b"".join(ln for ln in lines if ln.lstrip().startswith(b"#"))
    body = b"".join(ln for ln in lines if not ln.lstrip().startswith(b"#") and ln.strip())
    data = head + body * (size // len(body) + 1)
    path.write_bytes(data)
    return data


def _same_as_reference_on(data: bytes, got: tuple[str, object], tmp_path: Path) -> None:
    """``got`` (from _run) is what the reference makes of exactly ``data``."""
    p = tmp_path / "what-was-read.txt"
    p.write_bytes(data)
    ref = _run(p, "python", False)
    assert got == ref, (len(data), ref)


@pytest.mark.parametrize("kind", ["ftrace_function", "ftrace_function_graph"])
def test_file_truncated_while_parsed_no_signal(tmp_path: Path, kind: str) -> None:
    """A log cut short under the parser (a trace still being copied or rotated, a network filesystem).

    The old memory-mapped reader died of SIGBUS on the first page past the
    new end.  Now the parse must end normally: the table the reference
    makes of the bytes that were there (the cut line flagged as truncated),
    or a SortoError naming the file.
    """
    import json
    import os
    import subprocess
    import sys

    import sorto

    src = tmp_path / "trace.txt"
    data = _replicated(DATA / "guest" / f"{kind}.txt", src, 2 << 20)
    cut = len(data) // 3
    while data[cut - 1 : cut + 1].count(b"\n"):  # mid-line: the last line read is a cut one
        cut += 1
    scripts = str(Path(sorto.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [scripts, os.environ.get("PYTHONPATH")])))
    r = subprocess.run(
        [sys.executable, "-c", TRUNCATE_CHILD, str(src), str(tmp_path / "out"), str(cut)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, f"exit status {r.returncode} (negative: killed by a signal)\n{r.stderr[-3000:]}"
    assert src.stat().st_size == cut  # the file was cut while it was parsed
    res = json.loads(r.stdout.splitlines()[-1])
    if "error" in res:
        assert str(src) in res["error"]
        return
    table = Path(res["output"]).read_bytes()
    got = ("ok", (table, res["rows"], res["skipped"], res["partial"], res["notes"], res["type"]))
    _same_as_reference_on(data[:cut], got, tmp_path)
    assert res["partial"] and res["rows"] > 0


def _hook_reads(monkeypatch: pytest.MonkeyPatch, after: Callable[[list[bytes]], None]) -> list[bytes]:
    """Call ``after(what each read so far returned)`` after each read of the fast path; returns that list."""
    got: list[bytes] = []
    real = fast._readinto

    def readinto(fh: object, view: memoryview) -> int:
        n = real(fh, view)
        got.append(bytes(view[:n]))
        after(got)
        return n

    monkeypatch.setattr(fast, "_readinto", readinto)
    return got


@pytest.mark.parametrize("kind", ["ftrace_function", "ftrace_function_graph"])
@pytest.mark.parametrize("at_read, cut", [(3, "mid-line"), (10, "line end"), (7, "behind"), (1, "empty")])
def test_file_shrunk_between_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, at_read: int, cut: str
) -> None:
    """Cut between two reads: to the middle of a line ahead, to a line's end, behind what was read, to nothing.

    Strict and lenient, the fast path makes of the bytes it read exactly
    what the reference makes of them.
    """
    src = tmp_path / "trace.txt"
    data = (DATA / "guest" / f"{kind}.txt").read_bytes()
    for lenient in (False, True):
        src.write_bytes(data)

        def after(got: list[bytes]) -> None:
            if len(got) != at_read:
                return
            done = sum(len(b) for b in got)
            size = {
                "mid-line": data.index(b"\n", done + 1000) - 7,
                "line end": data.index(b"\n", done + 1000) + 1,
                "behind": done // 2,
                "empty": 0,
            }[cut]
            os.truncate(src, size)

        got = _hook_reads(monkeypatch, after)
        res = _run(src, "fast", lenient)
        assert len(got) > at_read  # the cut happened during the parse
        _same_as_reference_on(b"".join(got), res, tmp_path)


@pytest.mark.parametrize("kind", ["ftrace_function", "ftrace_function_graph"])
def test_file_growing_while_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A log still being written: a line that arrives in two pieces is read whole, not as two torn lines.

    Each time a read reaches the current end of the file, the writer adds
    the next piece: half a line, then its rest and more lines.  The parse
    reads to the final end, and its table is the reference's table of the
    final file.
    """
    src = tmp_path / "trace.txt"
    data = (DATA / "guest" / f"{kind}.txt").read_bytes()
    first = data.index(b"\n", len(data) // 2) + 1
    split = first + (data.index(b"\n", first) - first) // 2
    pieces = [data[first:split], data[split:]]
    src.write_bytes(data[:first])

    def after(got: list[bytes]) -> None:
        if pieces and os.path.getsize(src) == sum(len(b) for b in got):  # the reader is at the end
            with open(src, "ab") as fh:
                fh.write(pieces.pop(0))

    got = _hook_reads(monkeypatch, after)
    res = _run(src, "fast", False)
    assert not pieces and b"".join(got) == data == src.read_bytes()
    _same_as_reference_on(data, res, tmp_path)
    assert res[0] == "ok" and res[1][3] is False  # type: ignore[index]  # nothing flagged partial


@pytest.mark.parametrize("kind", ["ftrace_function", "ftrace_function_graph"])
def test_read_error_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A read that fails (EIO from a network filesystem) is a SortoError with the file and the offset."""
    import errno

    src = tmp_path / "trace.txt"
    src.write_bytes((DATA / "guest" / f"{kind}.txt").read_bytes())

    def after(got: list[bytes]) -> None:
        if len(got) == 5:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    _hook_reads(monkeypatch, after)
    with pytest.raises(SortoError, match=rf"^{src}: read failed at byte \d+: Input/output error$"):
        parse_file(src, tmp_path / "out", "csv", engine="fast")
