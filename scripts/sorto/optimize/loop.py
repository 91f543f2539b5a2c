"""The loop of ``sorto optimize``: profile, decide, inject, measure both sides, report.

1. profile session: the application runs under every tracer beside its load
   (``sorto trace``'s passes), the logs land in ``trace-before/``;
2. ``sorto analyze`` makes the application's policy, and each load program's
   (``--background-for``: its scheduling only), with their evidence;
3. the application's policy is injected into a copy of its executable
   (``bin/``), and the loads' policies into theirs;
4. measure session: with ``tune``, first ``tune`` rounds of each candidate
   (the application's policy alone, and with the marked loads), interleaved;
   the candidate with the best median of the first metric is kept (the
   loads' policies help on one kernel and hurt on another: docs/optimize.md).
   Without ``tune``, the marked loads run only with ``mark_loads``.  Then the
   application runs ``rounds`` times on each side
   (without metadata, each hand-tuning baseline, with metadata), the sides
   interleaved and rotated so that drift and order cannot favour one; each
   side runs beside its own load (the unmarked load, or the marked one with
   metadata); with ``trace_after`` the marked application is traced again
   (``trace-after/``); the kernel's record of it is read from debugfs;
5. ``results.json``, ``report.html`` and the summary.

The output folder is written under a temporary name and renamed at the end:
it holds a complete run or nothing.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .. import codec, elfsection, hookfs, policy
from ..errors import SortoError
from ..progress import Progress
from ..trace.manifest import OutDir
from ..trace.run import TraceOptions, run_passes
from . import measure
from .targets import DBG, PausedReads, Setup, start_loads, stop_loads

WITHOUT = "without metadata"
WITH = "with metadata"
#: The candidates of ``--tune``: the application's policy with the loads as they are, or marked.
APP_ONLY = "application only"
APP_LOADS = "application + marked loads"


@dataclasses.dataclass
class Options:
    """What ``sorto optimize`` was asked (see ``sorto optimize --help``)."""

    argv: list[str]
    out: Path
    rounds: int = 5
    loads: list[str] = dataclasses.field(default_factory=list)
    baselines: list[str] = dataclasses.field(default_factory=list)
    metrics: list[str] = dataclasses.field(default_factory=list)
    binary: Path | None = None
    module_args: str = ""
    sram_budget: int | None = None
    settle_s: float = 1.0
    trace_after: bool = False
    mark_loads: bool = False
    tune: int = 0
    timeout: float = 600.0
    progress: bool = True


@dataclasses.dataclass
class Load:
    """One background load: its command, its program, and the marked copy when it got a policy."""

    command: str
    exe: str
    host: Path | None = None
    policy: dict[str, Any] | None = None
    marked: Path | None = None
    #: Why a load whose policy asks for a change runs unmarked (a busybox applet, no executable to copy).
    not_marked: str | None = None

    def line(self, marked: bool) -> str:
        """The load's command, through the marked copy when asked and there is one."""
        if not marked or self.marked is None:
            return self.command
        from .targets import MARKED_DIR

        words = shlex.split(self.command)
        return shlex.join([f"{MARKED_DIR}/{self.marked.name}", *words[1:]])


def side_command(side: str, exe: str, marked: str, args: list[str]) -> str:
    """The shell line of one side: a baseline is a prefix, or a template with ``{cmd}``."""
    plain = shlex.join([exe, *args])
    if side == WITHOUT:
        return plain
    if side == WITH:
        return shlex.join([marked, *args])
    template = side
    return template.replace("{cmd}", plain) if "{cmd}" in template else f"{template} {plain}"


def _fresh_out(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SortoError(f"{out}: exists and is not an empty folder")
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _trace(g: Any, argv: list[str], dest: Path, target_name: str, opts: Options, prog: Progress,
           label: str) -> dict:
    out = OutDir(dest)
    topts = TraceOptions(argv=argv, out=dest, timeout=opts.timeout, progress=False)
    prog.step(f"tracing {label}: {shlex.join(argv)} (one run per tracer)")
    try:
        manifest = run_passes(g, topts, argv, out, target=target_name, kernel_series=None, files={})
        out.commit(manifest)
    except BaseException:
        out.discard()
        raise
    return manifest


def _analyze(trace_dir: Path, out: Path, vmlinux: Path | None, sram_budget: int | None,
             comm: str | None = None, background_for: str | None = None) -> dict[str, Any]:
    from .. import analyze

    opts = analyze.Options(vmlinux=str(vmlinux) if vmlinux else None, comm=comm, background_for=background_for)
    if sram_budget is not None:
        opts.sram_budget = sram_budget
    result = analyze.analyze(trace_dir, opts)
    analyze.write(result.policy, out)
    return result.policy


def _mark_load(target: Any, ld: Load, policy_file: Path, bin_dir: Path) -> None:
    """Inject a load's policy into a copy of its executable, or say in ``ld.not_marked`` why not.

    Whether a load gets a policy depends on the profile's evidence, so a load that cannot be
    marked must not abort a run that got as far as this: it runs as it is, and the report says why.
    A busybox applet is left alone: marking busybox would mark every applet.
    """
    try:
        ld.exe = target.resolve(ld.exe)
        ld.host = target.host_copy(ld.exe)
    except SortoError as exc:
        ld.not_marked = str(exc)
        return
    if ld.host.name == "busybox":
        ld.not_marked = f"{ld.exe} is a busybox applet; marking busybox would mark every applet"
        return
    # 3. inject (loads)
    ld.marked = _inject(ld.host, policy_file, bin_dir / ld.host.name)


def _inject(host: Path, policy_file: Path, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return elfsection.write_section(host, codec.encode(policy.load(policy_file)), out)


def _tune(g: Any, opts: Options, metric: measure.Metric, loads: list[Load], app: list[str],
          prog: Progress) -> dict[str, Any]:
    """Run the candidates ``opts.tune`` times each, interleaved and rotated; return their values and the pick.

    These rounds only choose: the sides reported afterwards are fresh runs,
    so the choice does not pick its own best draws.  A tie keeps the
    application alone (fewer programs changed).
    """
    cands = [APP_ONLY, APP_LOADS]
    vals: dict[str, list[float]] = {c: [] for c in cands}
    raw = ""
    for r in range(opts.tune):
        for cand in cands[r % 2:] + cands[:r % 2]:
            prog.step(f"tuning {r + 1}/{opts.tune}: {cand}")
            lines = [ld.line(cand == APP_LOADS) for ld in loads]
            start_loads(g, lines)
            g.run(f"sleep {opts.settle_s:g}")
            cmd = shlex.join(app)
            rc, text = g.run(cmd, timeout=opts.timeout)
            stop_loads(g, lines)
            if rc != 0:
                raise SortoError(f"tuning, {cand}: `{cmd}` exited with status {rc}: {text.strip()[-500:]}")
            vals[cand].append(metric.read(text))
            if cand == APP_LOADS:
                raw = g.check(f"cat {DBG}/records")
    from .summary import record_json

    med = {c: measure.Summary(v).median for c, v in vals.items()}
    better = med[APP_LOADS] > med[APP_ONLY] if not metric.lower_is_better else med[APP_LOADS] < med[APP_ONLY]
    # The kernel's record of each marked load in its last tuning run: the candidate ran what it claims.
    recs = hookfs.parse_records(raw)
    load_records = {}
    for ld in loads:
        if ld.marked is not None:
            path = ld.line(True).split()[0]
            mine = [rec for rec in recs if rec.file == path]
            load_records[ld.command] = record_json(mine[-1]) if mine else None
    return {"rounds": opts.tune, "metric": metric.name, "candidates": cands, "values": vals,
            "medians": med, "chosen": APP_LOADS if better else APP_ONLY, "load_records": load_records}


def run(target: Any, opts: Options) -> dict[str, Any]:
    """Run the whole loop on ``target`` (targets.QemuTarget or targets.BoardTarget); return the results."""
    if not opts.argv:
        raise SortoError("no command to optimize (give it after --)")
    if opts.rounds < 1:
        raise SortoError("--rounds must be at least 1")
    if opts.tune < 0:
        raise SortoError("--tune must be 0 (off) or more rounds")
    if opts.tune and opts.mark_loads:
        raise SortoError("--tune decides whether the loads run marked; leave out --mark-loads")
    metrics = measure.metrics_for(opts.argv, opts.metrics)
    prog = Progress(enabled=None if opts.progress else False)
    work = _fresh_out(opts.out)
    try:
        results = _run(target, opts, metrics, work, prog)
        (work / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        if opts.out.exists():
            opts.out.rmdir()
        work.rename(opts.out)
    except BaseException:
        prog.done()
        shutil.rmtree(work, ignore_errors=True)
        raise
    prog.done()
    return results


def _run(target: Any, opts: Options, metrics: tuple[measure.Metric, ...], work: Path,
         prog: Progress) -> dict[str, Any]:
    from . import summary

    t0 = time.monotonic()
    if hasattr(target, "console_dir"):
        target.console_dir = work
    if hasattr(target, "fetch_dir"):
        target.fetch_dir = work / "board"
    exe = target.resolve(opts.argv[0])
    args = opts.argv[1:]
    host = opts.binary or target.host_copy(exe)
    loads = []
    for cmd in opts.loads:
        words = shlex.split(cmd)
        if not words:
            raise SortoError("--load: empty command")
        loads.append(Load(cmd, words[0]))
    prog.step(f"preparing the target: {target.describe()}")
    vmlinux = target.vmlinux()
    sram = opts.sram_budget
    if sram is None and getattr(target, "flavour", None) == "release":
        sram = 0  # -M virt has no on-chip SRAM: ask for no scratchpad placement

    # 1. profile
    before = work / "trace-before"
    prog.step("booting the profile session")
    with target.session("profile", Setup([ld.command for ld in loads], opts.module_args)) as g:
        target_name = f"{'qemu' if hasattr(target, 'flavour') else 'ssh'}:{g.release}"
        g.run(f"sleep {opts.settle_s:g}")
        manifest = _trace(PausedReads(g, opts.loads), [exe, *args], before, target_name, opts, prog,
                          "the application")

    # 2. decide
    prog.step("analyzing the profile")
    pol_file = work / "policy.json"
    pol = _analyze(before, pol_file, vmlinux, sram)
    for ld in loads:
        comm = ld.exe.rsplit("/", 1)[-1]
        lpol_file = work / f"policy-{comm}.json"
        ld.policy = _analyze(before, lpol_file, None, 0, comm=comm, background_for=exe.rsplit("/", 1)[-1])
        # The loads' policies are decided and written either way; they change other programs, and
        # whether demoting a load helps the application depends on the kernel (docs/optimize.md), so
        # they ride in the measured side only when asked for (--mark-loads) or measured better (--tune).
        if (opts.mark_loads or opts.tune) and ld.policy.get("sched", {}).get("policy", "other") != "other":
            _mark_load(target, ld, lpol_file, work / "bin")
            if ld.not_marked:
                prog.done()
                print(f"sorto: --load {ld.command}: its policy asks for a change; not marked: {ld.not_marked}",
                      file=sys.stderr)

    # 3. inject (application)
    prog.step("injecting the policy")
    marked = _inject(host, pol_file, work / "bin" / Path(exe).name)

    # 4. measure
    sides = [WITHOUT, *opts.baselines, WITH]
    values: dict[str, dict[str, list[float]]] = {s: {m.name: [] for m in metrics} for s in sides}
    outputs: dict[str, list[str]] = {s: [] for s in sides}
    setup = Setup([], opts.module_args, marked, [ld.marked for ld in loads if ld.marked is not None])
    tune_res = None
    prog.step("booting the measure session")
    with target.session("measure", setup) as g:
        marked_path = setup.marked_path()
        if opts.tune and any(ld.marked is not None for ld in loads):
            tune_res = _tune(g, opts, metrics[0], loads, [marked_path, *args], prog)
            if tune_res["chosen"] == APP_ONLY:
                for ld in loads:  # the copies stay in OUT/tune/bin, out of the measured side
                    if ld.marked is not None:
                        dest = work / "tune" / "bin" / ld.marked.name
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        ld.marked.rename(dest)
                        ld.marked = None
        for r in range(opts.rounds):
            order = sides[r % len(sides):] + sides[: r % len(sides)]
            for side in order:
                prog.step(f"round {r + 1}/{opts.rounds}: {side}")
                lines = [ld.line(side == WITH) for ld in loads]
                start_loads(g, lines)
                g.run(f"sleep {opts.settle_s:g}")
                cmd = side_command(side, exe, marked_path, args)
                rc, text = g.run(cmd, timeout=opts.timeout)
                stop_loads(g, lines)
                if rc != 0:
                    raise SortoError(f"{side}: `{cmd}` exited with status {rc}: {text.strip()[-500:]}")
                outputs[side].append(text)
                for m in metrics:
                    values[side][m.name].append(m.read(text))
                if side == WITH:
                    # Right away: the module keeps the last few records, and the load's execs push them out.
                    raw = g.check(f"cat {DBG}/records")
                    (work / "records.txt").write_text(raw)
        if opts.trace_after:
            lines = [ld.line(True) for ld in loads]
            start_loads(g, lines)
            g.run(f"sleep {opts.settle_s:g}")
            _trace(PausedReads(g, opts.loads), [marked_path, *args], work / "trace-after", target_name, opts, prog,
                   "the marked application")
            stop_loads(g, lines)
        stats = g.check(f"cat {DBG}/stats")
    records = hookfs.parse_records(raw)
    mine = [rec for rec in records if rec.file == marked_path]
    if not mine:
        raise SortoError(f"the kernel kept no record of {marked_path}: is sorto_hook loaded and the kernel patched? "
                         "(the module keeps the last 32 records: a load that execs in a loop pushes them out)")
    load_recs = {ld.command: [rec for rec in records if ld.marked is not None and rec.file == ld.line(True).split()[0]]
                  for ld in loads}
    results = summary.results(opts, target.describe(), exe, metrics, sides, values, pol, manifest, mine[-1],
                              loads, load_recs, stats, time.monotonic() - t0)
    results["tune"] = tune_res
    prog.step("writing the report")
    summary.write_report(work, results, metrics, sides, values)
    (work / "outputs.json").write_text(json.dumps(outputs, indent=1) + "\n")
    return results
