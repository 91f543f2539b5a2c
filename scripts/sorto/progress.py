"""Progress lines on stderr for long work (parsing big traces, drawing charts).

Why not a progress-bar library: the venv has none and the output must stay
readable in CI logs.  Lines are only printed when stderr is a terminal (or
when forced), so scripted runs and tests stay quiet.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Print ``sorto: STEP ...`` lines, rewriting one terminal line when possible."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._t0 = time.monotonic()
        self._open = False

    def step(self, message: str) -> None:
        """Report the start of a step (a file being parsed, a chart being drawn)."""
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._t0
        text = f"sorto: [{elapsed:6.1f}s] {message}"
        if self.stream.isatty():
            self.stream.write("\r\033[K" + text[:200])
            self._open = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End the rewritten line so later messages start on a fresh one."""
        if self.enabled and self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


#: A Progress that never prints (the default for library calls and tests).
QUIET = Progress(enabled=False)
