"""Load and validate policy files (YAML or JSON) and bring them to canonical form.

The canonical form is what ``sorto show --json`` prints and what the decoder
returns, so ``decode(encode(p)) == normalize(p)`` for every valid policy.
Validation uses the JSON Schema shipped in the package, checked by
:mod:`sorto.schemacheck` (not the jsonschema package: its Rust dependency
would follow ``sorto inject`` into Buildroot builds); an error names the file,
the line and the path of the failing field, because a policy is edited by hand
and the user must find the spot at once.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from . import schemacheck
from .errors import SortoError

Policy = dict[str, Any]


def schema() -> dict[str, Any]:
    """Return the policy JSON Schema shipped with the package."""
    text = resources.files("sorto").joinpath("schema/policy-v1.json").read_text()
    return json.loads(text)


def _node_line(root: yaml.Node | None, path: list[Any]) -> int | None:
    """Find the 1-based line of the YAML node at ``path`` (or its nearest parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return line


def _field_path(path: list[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def validate(data: Any, origin: str = "<policy>", root: yaml.Node | None = None) -> Policy:
    """Validate ``data`` against the schema; raise SortoError naming field and line."""
    err = schemacheck.best_match(list(schemacheck.Validator(schema()).iter_errors(data)))
    if err is not None:
        path = list(err.absolute_path)
        line = _node_line(root, path) if root is not None else None
        where = f"{origin}:{line}" if line else origin
        raise SortoError(f"{where}: invalid policy field '{_field_path(path)}': {err.message}")
    return data


def load(path: str | Path) -> Policy:
    """Read, parse and validate a policy file; return it in canonical form."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SortoError(f"{p}: cannot read policy: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SortoError(f"{where}: not valid YAML or JSON: {problem}") from exc
    if not isinstance(data, dict):
        raise SortoError(f"{p}:1: a policy must be a mapping with at least 'version: 1'")
    validate(data, str(p), root)
    return normalize(data)


def normalize(data: Policy) -> Policy:
    """Return the canonical form of a valid policy (defaults filled, evidence dropped)."""
    profile_in = data.get("profile", {})
    profile: dict[str, Any] = {"status": profile_in.get("status", "manual")}
    for key in ("source", "kernel", "trace_sha256", "duration_ms"):
        if key in profile_in:
            profile[key] = profile_in[key]
    out: Policy = {"version": 1, "profile": profile}
    mlock = []
    for m in data.get("mlock", []):
        item: dict[str, Any] = {"region": m["region"], "max_bytes": m.get("max_bytes", 0)}
        if m["region"] == "file":
            item["name"] = m["name"]
        mlock.append(item)
    out["mlock"] = mlock
    if "sched" in data:
        s = data["sched"]
        sched: dict[str, Any] = {"policy": s["policy"]}
        if "priority" in s:
            sched["priority"] = s["priority"]
        if "nice" in s:
            sched["nice"] = s["nice"]
        sched["cpus"] = sorted(s.get("cpus", []))
        out["sched"] = sched
    irqs = []
    for i in data.get("irq_defer", []):
        item = {"irq": i["irq"]} if "irq" in i else {"name": i["name"]}
        item["away"] = bool(i.get("away", False))
        irqs.append(item)
    out["irq_defer"] = irqs
    out["scratchpad"] = [{"function": s["function"], "weight": s["weight"]} for s in data.get("scratchpad", [])]
    return out
