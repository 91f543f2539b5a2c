"""The per-function kernel fetch table of the QEMU kfetch plugin (``sorto.plugins.kfetch``).

Why it is read like a log: ``sorto analyze`` takes a trace folder, and a
fetch profile of the same program is the best input its scratchpad decision
has (each function's own instructions, counted exactly, without tracing
overhead), so it rides in the folder beside the ftrace logs.  The file is
CSV written by sorto itself; its header line is its signature.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from .base import Context, Parser

HEADER = "function,fetches,share"


class QemuKfetch(Parser):
    """``function,fetches,share``: kernel instruction fetches per function in one window."""

    type_name = "qemu_kfetch"
    columns = [("function", "str"), ("fetches", "int"), ("share", "float")]

    def rows(self, ctx: Context) -> Iterator[tuple[Any, ...]]:
        for no, text in ctx.lines():
            if no == 1 and text == HEADER:
                continue
            try:
                f = next(csv.reader([text]))
                name, fetches, share = f[0], int(f[1]), float(f[2])
            except (StopIteration, ValueError, IndexError):
                ctx.bad(no, text, "expected function,fetches,share")
                continue
            if len(f) != 3 or not name or fetches < 0:
                ctx.bad(no, text, "expected function,fetches,share")
                continue
            yield name, fetches, share
