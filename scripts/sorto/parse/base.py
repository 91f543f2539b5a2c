"""What every log parser shares: the line source, the schema and bad-line policy.

A parser is a class with a ``type_name``, a ``columns`` schema and a
``rows(ctx)`` generator.  It pulls numbered lines from ``ctx.lines()`` and
yields row tuples in column order.  A line it cannot read goes to
``ctx.bad()``, which stops the run with ``file:line`` (strict mode) or
skips and counts it (``--lenient``).  Keeping that policy here means every
log family reports bad input the same way.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import SortoError
from .tables import Column


class MalformedLine(SortoError):
    """A line that does not fit the detected format; the message is ``file:line: ...``."""


class Context:
    """The state of one file's parse: where we are, what was skipped, what is partial."""

    def __init__(self, path: Path, lenient: bool = False) -> None:
        self.path = path
        self.lenient = lenient
        self.skipped = 0
        self.partial = False
        self.notes: list[str] = []
        self.truncated_line: int | None = None

    def lines(self, offset: int = 0, first: int = 1) -> Iterator[tuple[int, str]]:
        """Yield ``(line number, text without newline)``, one line in memory at a time.

        Bytes that are not UTF-8 are replaced rather than fatal: a stray byte in
        a traced program's string argument must not sink the whole table.  A
        last line without its newline is the mark of a log copied while it was
        written; it may still look valid (a cut perf sample parses as another
        sample), so it is never trusted: it is dropped and the result flagged.
        Lines are split as universal newlines (``\n``, ``\r\n`` or a lone
        ``\r``), so a lone ``\r`` also ends the table there.

        ``offset``/``first`` start at a line boundary other than the file's
        start: the fast path (``fast.py``) hands the rest of a file over here.
        """
        raw = open(self.path, "rb")
        raw.seek(offset)
        with io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as fh:
            for no, raw_line in enumerate(fh, first):
                if not raw_line.endswith("\n"):
                    if raw_line.strip():
                        self.truncated(no)
                    return
                text = raw_line[:-1]
                if text.endswith("\r"):
                    text = text[:-1]
                yield no, text

    def line_text(self, no: int, raw: bytes, last: bool = False) -> str | None:
        """What ``lines()`` yields for line ``no`` given its bytes (without ``\n``); None where it stops.

        The fast path reads bytes, not text; this keeps its per-line decoding
        identical to ``lines()``: UTF-8 with replacement, ``\r\n`` as one
        newline, and a lone ``\r`` (or the end of the file, ``last``) ending
        a line without ``\n``, which is flagged as truncated when not blank.
        """
        text = raw.decode("utf-8", errors="replace")
        k = text.find("\r")
        if not last and (k < 0 or k == len(text) - 1):
            return text[:k] if k >= 0 else text
        piece = text[:k + 1] if k >= 0 else text
        if piece.strip():
            self.truncated(no)
        return None

    def truncated(self, no: int) -> None:
        """Line ``no`` has no newline: skip it and flag the table partial (see ``lines()``)."""
        self.truncated_line = no
        self.skipped += 1
        self.flag_partial(f"line {no}: last line has no newline (truncated?); skipped")

    def bad(self, lineno: int, text: str, why: str = "") -> None:
        """Handle a line the parser cannot read: fail with ``file:line`` or, if lenient, skip and count it."""
        if not self.lenient:
            detail = f" ({why})" if why else ""
            raise MalformedLine(f"{self.path}:{lineno}: malformed line{detail}: {text[:160]!r}")
        self.skipped += 1

    def flag_partial(self, note: str) -> None:
        """Mark the result as a correct but incomplete table, with the reason."""
        self.partial = True
        self.notes.append(note)


class Parser:
    """Base class of the log parsers (see the module docstring for the contract)."""

    type_name: ClassVar[str] = ""
    columns: ClassVar[list[Column]] = []

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:  # pragma: no cover - interface
        raise NotImplementedError


def to_int(s: str | None) -> int | None:
    """Parse an integer field that may be blank."""
    if s is None or s == "":
        return None
    return int(s)


def to_float(s: str | None) -> float | None:
    """Parse a float field that may be blank."""
    if s is None or s == "":
        return None
    return float(s)
