"""Recognise a log's type from its first lines (never from its file name).

Why content only: ``sorto trace`` names files after tracers, but logs from
other machines arrive renamed, compressed out of context or concatenated.
Headers are decisive when present (``# tracer: function_graph``, the
``strace -c`` dashes line, perf's column titles); headerless output
(``trace_pipe``, ``perf script``, ``strace -o``) is recognised by the shape
of most of its first lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SortoError
from . import ftrace, perf, qemu, strace

HEAD_BYTES = 64 * 1024
HEAD_LINES = 60


class UnknownFormat(SortoError):
    """The file is readable but is none of the supported logs (exit 2)."""


def read_head(path: Path) -> tuple[bytes, list[str]]:
    """The first bytes and lines of ``path`` (bounded: detection never reads a whole file)."""
    with open(path, "rb") as fh:
        data = fh.read(HEAD_BYTES)
    lines = data.decode("utf-8", errors="replace").splitlines()[:HEAD_LINES]
    return data, lines


def is_binary(data: bytes) -> bool:
    """True for data that is not a text log: NUL bytes or mostly non-printable bytes."""
    if b"\0" in data:
        return True
    sample = data[:4096]
    text_chars = set(range(32, 127)) | {9, 10, 13}
    odd = sum(1 for b in sample if b not in text_chars and b < 128)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
            return True
    return odd > len(sample) // 10


def detect(path: Path) -> str:
    """Return the type name of the log at ``path`` or raise with the reason."""
    data, lines = read_head(path)
    if not data.strip():
        raise UnknownFormat(f"{path}: empty file")
    if is_binary(data):
        raise UnknownFormat(f"{path}: binary data, not a text log")
    kind = detect_lines(lines)
    if kind is None:
        first = next((ln for ln in lines if ln.strip()), "")
        raise UnknownFormat(f"{path}: unknown log format; first line: {first[:160]!r}")
    return kind


def detect_lines(lines: list[str]) -> str | None:
    """Classify a list of leading lines; None when nothing fits."""
    if lines and lines[0].strip() == qemu.HEADER:
        return "qemu_kfetch"
    for ln in lines:
        m = re.match(r"^#\s*tracer:\s*(\S+)", ln)
        if m:
            tracer = m.group(1)
            if tracer == "function":
                return "ftrace_function"
            if tracer == "function_graph":
                return "ftrace_function_graph"
            return "ftrace_events"
    for a, b in zip(lines, lines[1:]):
        if strace.summary_header(a, b):
            return "strace_summary"
    for ln in lines:
        if ftrace.PROFILE_HEADER.match(ln):
            return "ftrace_function_profile"
        if perf.LATENCY_HEADER.match(ln):
            return "perf_sched_latency"
        if perf.TIMEHIST_HEADER.match(ln):
            return "perf_sched_timehist"
    data = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#") and not ln.startswith("\t")
            and not ln.startswith("strace: ")]
    if not data:
        return None
    votes: dict[str, int] = {}
    for ln in data:
        for kind in _shape(ln):
            votes[kind] = votes.get(kind, 0) + 1
    if not votes:
        return None
    kind, n = max(votes.items(), key=lambda kv: kv[1])
    # Most leading lines must agree: a text file with one trace-like line is not a trace.
    return kind if n * 2 > len(data) else None


def _shape(line: str) -> list[str]:
    """The types a single headerless line could belong to."""
    m = ftrace.TRACE_LINE.match(line)
    if m:
        body = m.group("body")
        if re.match(r"^\s*\S+\s+<-\S+\s*$", body):
            return ["ftrace_function"]
        return ["ftrace_events"]
    if ftrace.GRAPH_LINE.match(line):
        return ["ftrace_function_graph"]
    if perf.SCRIPT_LINE.match(line):
        return ["perf_script"]
    if strace.looks_like_call(line):
        return ["strace_timestamps"]
    return []
