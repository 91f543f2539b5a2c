"""Parse what the sorto_hook module publishes in debugfs.

``/sys/kernel/debug/sorto_hook/stats`` holds ``key value`` lines and
``records`` holds the last decoded records as line-oriented ``key=value``
blocks (``record ...`` header, indented detail lines, ``end``).  The parser
turns a record into the same canonical dict as :func:`sorto.codec.decode`,
so a test can compare what the kernel received with ``sorto show --json`` of
the same file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import SortoError


@dataclass
class HookRecord:
    """One record block: exec identity, result, and the decoded policy (if ok)."""

    seq: int
    pid: int
    comm: str
    file: str
    result: str
    length: int
    error_code: int | None = None
    error: str | None = None
    policy: dict[str, Any] = field(default_factory=dict)
    #: what the new program owned when its record decoded (a policy gets
    #: nothing beyond it): {"uid": int, "secure": bool, "cap_sys_nice": bool,
    #: "cap_ipc_lock": bool, "rlimit_rtprio": int, "rlimit_memlock": int},
    #: rlimits -1 when unlimited
    privs: dict[str, Any] = field(default_factory=dict)
    #: what the module did, one dict per action line (kind, target, asked,
    #: applied, result, reason), in the order the decisions were made
    actions: list[dict[str, str]] = field(default_factory=list)
    actions_truncated: bool = False

    def action(self, kind: str, target: str) -> dict[str, str]:
        """The one action of ``kind`` on ``target``; KeyError if absent."""
        found = [a for a in self.actions if a["kind"] == kind and a["target"] == target]
        if len(found) != 1:
            raise KeyError(f"{len(found)} actions kind={kind} target={target} in record {self.seq}")
        return found[0]


def parse_stats(text: str) -> dict[str, int]:
    """Parse the stats file into a dict of integers."""
    out: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise SortoError(f"stats:{n}: unexpected line {line!r}")
        out[parts[0]] = int(parts[1])
    return out


def _kv(tokens: list[str], where: str) -> dict[str, str]:
    out = {}
    for t in tokens:
        k, sep, v = t.partition("=")
        if not sep:
            raise SortoError(f"{where}: token without '=': {t!r}")
        out[k] = v
    return out


def parse_records(text: str) -> list[HookRecord]:
    """Parse the records file; raise SortoError naming the line on bad input."""
    records: list[HookRecord] = []
    cur: HookRecord | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        where = f"records:{n}"
        line = raw.rstrip()
        if not line:
            continue
        tokens = line.split()
        if line.startswith("record "):
            if cur is not None:
                raise SortoError(f"{where}: record without end")
            kv = _kv(tokens[1:], where)
            cur = HookRecord(seq=int(kv["seq"]), pid=int(kv["pid"]), comm=kv["comm"], file=kv["file"],
                             result=kv["result"], length=int(kv["len"]))
            if cur.result == "error":
                cur.error_code = int(kv["code"])
                cur.error = kv["error"].replace("-", " ")
            else:
                cur.policy = {"version": 1, "profile": {}, "mlock": [], "irq_defer": [], "scratchpad": []}
            continue
        if cur is None:
            raise SortoError(f"{where}: line outside a record: {line!r}")
        if line == "end":
            records.append(cur)
            cur = None
            continue
        if not raw.startswith(" "):
            raise SortoError(f"{where}: unexpected line {line!r}")
        kind = tokens[0]
        if kind == "actions_truncated=1":
            cur.actions_truncated = True
            continue
        if kind == "privs":
            kv = _kv(tokens[1:], where)
            try:
                cur.privs = {
                    "uid": int(kv["uid"]),
                    "secure": kv["secure"] == "1",
                    "cap_sys_nice": kv["cap_sys_nice"] == "1",
                    "cap_ipc_lock": kv["cap_ipc_lock"] == "1",
                    "rlimit_rtprio": int(kv["rlimit_rtprio"]),
                    "rlimit_memlock": int(kv["rlimit_memlock"]),
                }
            except (KeyError, ValueError) as exc:
                raise SortoError(f"{where}: bad privs line: {exc}") from None
            continue
        if kind == "action":
            kv = _kv(tokens[1:], where)
            missing = {"kind", "target", "asked", "applied", "result", "reason"} - kv.keys()
            if missing:
                raise SortoError(f"{where}: action without {', '.join(sorted(missing))}")
            cur.actions.append(kv)
            continue
        if kind.startswith("unknown_fields="):
            count = int(kind.partition("=")[2])
            if count:
                cur.policy["unknown_fields"] = count
            continue
        kv = _kv(tokens[1:], where)
        _add(cur.policy, kind, kv, where)
    if cur is not None:
        raise SortoError("records: last record has no end")
    return records


def _add(p: dict[str, Any], kind: str, kv: dict[str, str], where: str) -> None:
    if kind == "profile":
        prof: dict[str, Any] = {"status": kv["status"]}
        for key in ("source", "kernel", "trace_sha256"):
            if key in kv:
                prof[key] = kv[key]
        if "duration_ms" in kv:
            prof["duration_ms"] = int(kv["duration_ms"])
        p["profile"] = prof
    elif kind == "mlock":
        item: dict[str, Any] = {"region": kv["region"], "max_bytes": int(kv["max_bytes"])}
        if "name" in kv:
            item["name"] = kv["name"]
        p["mlock"].append(item)
    elif kind == "sched":
        s: dict[str, Any] = {"policy": kv["policy"]}
        if "priority" in kv:
            s["priority"] = int(kv["priority"])
        if "nice" in kv:
            s["nice"] = int(kv["nice"])
        s["cpus"] = [int(c) for c in kv.get("cpus", "").split(",") if c]
        p["sched"] = s
    elif kind == "irq":
        i: dict[str, Any] = {"irq": int(kv["irq"])} if "irq" in kv else {"name": kv["name"]}
        i["away"] = kv["away"] == "1"
        p["irq_defer"].append(i)
    elif kind == "scratch":
        p["scratchpad"].append({"function": kv["function"], "weight": int(kv["weight"])})
    else:
        raise SortoError(f"{where}: unknown line kind {kind!r}")
