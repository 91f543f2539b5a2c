"""What ``sorto optimize`` measures: numbers read from the application's own output.

Why from the output: the application knows best what "better" means for it
(cyclictest prints its latencies, a benchmark its throughput), and reading
its own figures needs no extra tool on the target.  A metric is a regular
expression with one number group; cyclictest's summary lines are recognised
without one.  Every side is run several times; the summary keeps every value
so the spread is shown, never one run.
"""

from __future__ import annotations

import dataclasses
import re
import statistics

from ..errors import SortoError

#: cyclictest's summary line (``-q``), one per measuring thread.
CYCLICTEST_LINE = re.compile(
    r"^T:\s*\d+\s+\(\s*\d+\)\s+P:\s*-?\d+\s+I:\s*\d+\s+C:\s*(?P<count>\d+)\s+Min:\s*(?P<min>\d+)\s+"
    r"Act:\s*\d+\s+Avg:\s*(?P<avg>\d+)\s+Max:\s*(?P<max>\d+)", re.M)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One number per run: its name, unit, direction, and how to read it from the output."""

    name: str
    unit: str
    lower_is_better: bool
    pattern: re.Pattern[str] | None = None  # group "value" (or group 1); None: cyclictest field
    field: str = ""  # cyclictest field: max, avg or min (worst thread for max, mean of threads for avg)

    def read(self, output: str) -> float:
        """The metric's value in one run's output; SortoError naming the metric when it is absent."""
        if self.pattern is None:
            lines = [m.groupdict() for m in CYCLICTEST_LINE.finditer(output)]
            if not lines:
                raise SortoError(f"metric {self.name}: no cyclictest summary line (T: ... Max:) in the output "
                                 f"(run it with -q): {output.strip()[-300:]!r}")
            vals = [int(x[self.field]) for x in lines]
            if self.field == "max":
                return float(max(vals))
            if self.field == "min":
                return float(min(vals))
            return statistics.fmean(vals)
        m = self.pattern.search(output)
        if not m:
            raise SortoError(f"metric {self.name}: /{self.pattern.pattern}/ does not match the output: "
                             f"{output.strip()[-300:]!r}")
        text = m.group("value") if "value" in self.pattern.groupindex else m.group(1)
        try:
            return float(text)
        except (TypeError, ValueError) as exc:
            raise SortoError(f"metric {self.name}: matched {text!r}, not a number") from exc


CYCLICTEST = (
    Metric("max latency", "us", True, field="max"),
    Metric("avg latency", "us", True, field="avg"),
    Metric("min latency", "us", True, field="min"),
)


def is_cyclictest(argv: list[str]) -> bool:
    """cyclictest by its base name: its metrics need no --metric."""
    return bool(argv) and argv[0].rsplit("/", 1)[-1] == "cyclictest"


def parse_metric(spec: str) -> Metric:
    """``NAME=REGEX`` (lower is better) or ``NAME=REGEX:higher``: REGEX has a group ``value`` or one group."""
    name, sep, rest = spec.partition("=")
    higher = rest.endswith(":higher")
    if higher:
        rest = rest[: -len(":higher")]
    if not sep or not name.strip() or not rest:
        raise SortoError(f"--metric {spec!r}: expected NAME=REGEX or NAME=REGEX:higher")
    try:
        pat = re.compile(rest, re.M)
    except re.error as exc:
        raise SortoError(f"--metric {spec!r}: bad regular expression: {exc}") from exc
    if pat.groups < 1:
        raise SortoError(f"--metric {spec!r}: the regular expression needs a group for the number")
    return Metric(name.strip(), "", not higher, pat)


def metrics_for(argv: list[str], specs: list[str]) -> tuple[Metric, ...]:
    """The metrics of a run: the user's --metric options, else cyclictest's own."""
    if specs:
        return tuple(parse_metric(s) for s in specs)
    if is_cyclictest(argv):
        return CYCLICTEST
    raise SortoError(f"{argv[0] if argv else 'the command'}: give --metric NAME=REGEX to say which number of its "
                     "output to compare (cyclictest is recognised without)")


@dataclasses.dataclass
class Summary:
    """The values of one metric on one side, over the rounds."""

    values: list[float]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)
