"""Questions to a real BitBake, asked through tinfoil; run by tests/layer/yocto.py inside a build dir.

Not a test module: it runs with the release's own BitBake and Python
(``python3 - SPEC`` after oe-init-build-env, script on stdin) and prints one
``BBQUERY-JSON:`` line.  Tinfoil reuses the build dir's BitBake server and the
parse cache of its configuration, so a question costs a recipe parse, not a
full one; and ``parse_recipe_file(..., config_data=...)`` parses a recipe under
a changed configuration (another PREFERRED_PROVIDER, the feature switched)
without invalidating that cache, which a local.conf change would.

SPEC is JSON: ``{"query": "appends" | "variants", ...}`` (see each function).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import bb.data
import bb.tinfoil

# Bookkeeping that records which files were read, not what the recipe is.
BOOKKEEPING = ("BBINCLUDED", "BB_ORIGENV")


class Capture(logging.Handler):
    """Keep BitBake's log messages (bb.fatal logs before it raises) for the answer."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(f"{record.levelname}: {record.getMessage()}")


def comparable(d, key: str) -> object:
    """A variable's unexpanded value and flags, in a form that compares by content."""
    value = d.getVar(key, False)
    if not isinstance(value, (str, type(None), list, tuple, dict, int, bool)):
        value = type(value).__name__
    flags = d.getVarFlags(key, internalflags=True) or {}
    return value, sorted((k, repr(v)) for k, v in flags.items() if k != "_content")


def appends(t: bb.tinfoil.Tinfoil, spec: dict) -> dict:
    """Every recipe of another layer that an append of ours applies to, parsed with and without it."""
    layer = spec["layer"].rstrip("/") + "/"
    ours = [path for _, path in t.run_command("getAllAppends") if path.startswith(layer)]
    out: dict = {"ours": sorted(ours), "recipes": {}}
    for fn in sorted(set(t.all_recipe_files(variants=False))):
        if fn.startswith(layer):
            continue
        applied = t.get_file_appends(fn)
        mine = [a for a in applied if a.startswith(layer)]
        if not mine:
            continue
        d1 = t.parse_recipe_file(fn, appendlist=list(applied))
        d0 = t.parse_recipe_file(fn, appendlist=[a for a in applied if a not in mine])
        keys = (set(d1.keys()) | set(d0.keys()))
        diff = sorted(k for k in keys if not k.startswith("__") and comparable(d1, k) != comparable(d0, k))
        out["recipes"][fn] = {"appends": mine, "differs": diff, "bookkeeping": list(BOOKKEEPING),
                              "src_uri": d1.getVar("SRC_URI")}
    return out


def late_messages(t: bb.tinfoil.Tinfoil, cap: Capture, start: int, wait_s: float = 10.0) -> None:
    """Wait (up to ``wait_s``) for the log message of a failure that has none yet.

    The server's log records travel on the event channel, not with the
    command's answer, and ``run_command`` drains that channel without
    waiting: once in a while the failure's own message (bb.fatal's) had not
    arrived yet, and it was then counted in the next case's log.
    """
    deadline = time.monotonic() + wait_s
    while len(cap.messages) == start and time.monotonic() < deadline:
        event = t.wait_event(0.25)
        if isinstance(event, logging.LogRecord) and (event.taskpid == 0 or event.levelno > logging.INFO):
            t.logger.handle(event)


def parse_with(t: bb.tinfoil.Tinfoil, cap: Capture, fn: str, case: dict) -> dict:
    """Parse ``fn`` under the build's configuration changed by ``case["settings"]``.

    Returns the expanded ``vars`` and ``flags`` ([name, flag] pairs) of the
    case, or the failure with what BitBake logged.
    """
    cd = None
    if case.get("settings"):
        cd = bb.data.createCopy(t.config_data)
        for key, value in case["settings"].items():
            cd.setVar(key, value)
    start = len(cap.messages)
    try:
        d = t.parse_recipe_file(fn, appends=case.get("appends", True), config_data=cd)
    except Exception as exc:  # the server's parse failure arrives as a tinfoil exception
        late_messages(t, cap, start)
        return {"failed": f"{type(exc).__name__}: {exc}", "log": cap.messages[start:]}
    values = {n: d.getVar(n) for n in case.get("vars", [])}
    values["__SKIPPED"] = d.getVar("__SKIPPED")
    flags = {f"{n}[{f}]": d.getVarFlag(n, f) for n, f in case.get("flags", [])}
    return {"values": values, "flags": flags, "log": cap.messages[start:]}


def variants(t: bb.tinfoil.Tinfoil, cap: Capture, spec: dict) -> dict:
    """Each case of ``spec["cases"]``: a recipe (file or PN) parsed under extra settings."""
    out = {}
    for name, case in spec["cases"].items():
        fn = case.get("file") or t.get_recipe_file(case["pn"])
        out[name] = parse_with(t, cap, fn, case)
        out[name]["file"] = fn
    return out


def main() -> int:
    spec = json.loads(sys.argv[1])
    cap = Capture()
    with bb.tinfoil.Tinfoil() as t:
        t.prepare(config_only=False, quiet=2)
        logging.getLogger("BitBake").addHandler(cap)
        if spec["query"] == "appends":
            answer = appends(t, spec)
        elif spec["query"] == "variants":
            answer = variants(t, cap, spec)
        else:
            raise SystemExit(f"unknown query {spec['query']}")
    answer["cwd"] = os.getcwd()
    print("BBQUERY-JSON:" + json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
