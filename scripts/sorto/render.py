"""Human-readable rendering of a decoded policy for ``sorto show``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # policy imports YAML and the validator: `sorto show` needs neither
    from .policy import Policy


def text(policy: Policy, origin: str, size: int) -> str:
    """Render a decoded policy as indented text, one decision per line."""
    prof = policy["profile"]
    lines = [f"{origin}: metadata v{policy['version']}, {size} bytes, status {prof['status']}"]
    for key in ("source", "kernel", "trace_sha256", "duration_ms"):
        if key in prof:
            lines.append(f"  profile {key}: {prof[key]}")
    for m in policy["mlock"]:
        extra = f" {m['name']}" if "name" in m else ""
        limit = f" max {m['max_bytes']} bytes" if m["max_bytes"] else ""
        lines.append(f"  mlock {m['region']}{extra}{limit}")
    if "sched" in policy:
        s = policy["sched"]
        parts = [s["policy"]]
        if "priority" in s:
            parts.append(f"priority {s['priority']}")
        if "nice" in s:
            parts.append(f"nice {s['nice']}")
        if s["cpus"]:
            parts.append("cpus " + ",".join(map(str, s["cpus"])))
        lines.append("  sched " + " ".join(parts))
    for i in policy["irq_defer"]:
        what = f"irq {i['irq']}" if "irq" in i else f"irq {i['name']}"
        lines.append(f"  defer {what}{' away from app CPUs' if i['away'] else ''}")
    for sp in policy["scratchpad"]:
        lines.append(f"  scratchpad {sp['function']} weight {sp['weight']}")
    if policy.get("unknown_fields"):
        lines.append(f"  ({policy['unknown_fields']} fields of unknown type skipped)")
    return "\n".join(lines)
