"""A plain-splitting reader of ftrace event lines for the tests.

It is the tests' own oracle, independent of ``sorto.parse``: the analyzer's
and the trace command's results are checked against what it reads.
"""

from __future__ import annotations

import re
from pathlib import Path


def event_lines(path: Path) -> list[tuple[str, int, int, str, float, str, str]]:
    """(task, pid, cpu, flags, ts, event, details) of every event line, by plain splitting."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        head, _, rest = line.partition(": ")
        event, _, details = rest.partition(": ")
        fields = head.split()
        ts = float(fields[-1])
        flags = fields[-2]
        cpu = int(fields[-3].strip("[]"))
        task, _, pid = " ".join(fields[:-3]).rpartition("-")
        out.append((task, int(pid), cpu, flags, ts, event, details))
    return out


def kv(details: str, key: str) -> str:
    return re.search(rf"\b{key}=(\S+)", details).group(1)
