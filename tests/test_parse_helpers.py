"""Helpers (no tests) shared by the ``sorto parse`` tests: run a parse and read its CSV back."""

from __future__ import annotations

import csv
from pathlib import Path

from sorto.parse import Result, parse_file
from sorto.parse.detect import detect

DATA = Path(__file__).resolve().parent / "data"


def parse(path: Path, out: Path, lenient: bool = False) -> tuple[Result, list[dict[str, str]]]:
    """Parse one file to CSV and return the result and its rows as dicts of strings."""
    res = parse_file(path, out, "csv", lenient)
    with open(res.output, newline="") as fh:  # type: ignore[arg-type]
        return res, list(csv.DictReader(fh))


def parse_text(text: str, tmp: Path, lenient: bool = False, name: str = "log") -> tuple[Result, list[dict[str, str]]]:
    """Write ``text`` to a file under ``tmp`` and parse it."""
    p = tmp / name
    p.write_text(text)
    return parse(p, tmp / "out", lenient)


def check_fixture(path: Path, kind: str, rows: int, out: Path) -> None:
    """A real fixture is detected as ``kind`` and parses completely into exactly ``rows`` rows."""
    assert detect(path) == kind
    res, table = parse(path, out)
    assert (res.type, res.rows, len(table), res.skipped, res.partial) == (kind, rows, rows, 0, False)
