"""The ``sorto`` command line.

Exit status: 0 success; 1 ``verify``/``show`` found no section or an invalid
one; 2 bad input (the message names the file and the problem).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Only what every command needs: each command imports its own modules, so
# `sorto --version` and `sorto show` start fast (docs/parse.md has numbers).
from . import __version__
from .errors import DecodeError, SortoError


def _cmd_inject(args: argparse.Namespace) -> int:
    from . import codec, elfsection, policy

    pol = policy.load(args.policy)
    record = codec.encode(pol)
    out = elfsection.write_section(args.binary, record, args.output, args.objcopy)
    if not args.quiet:
        print(f"{out}: {len(record)} bytes of metadata in {elfsection.F.SECTION_NAME}")
    return 0


def _cmd_inject_many(args: argparse.Namespace) -> int:
    from . import injectmany

    if args.plan == "-":
        text, origin = sys.stdin.read(), "<stdin>"
    else:
        try:
            text, origin = Path(args.plan).read_text(), args.plan
        except (OSError, UnicodeDecodeError) as exc:
            raise SortoError(f"{args.plan}: cannot read the plan: {exc}") from exc
    done = injectmany.run(injectmany.parse_plan(text, origin), args.objcopy, args.jobs)
    if not args.quiet:
        print(f"{len(done)} executables marked")
    return 0


def _load_record(path: str) -> tuple[bytes | None, dict | None]:
    from . import codec, elfsection

    data = elfsection.read_section(path)
    if data is None:
        return None, None
    try:
        return data, codec.decode(data)
    except DecodeError as exc:
        raise SortoError(f"{path}: section {elfsection.F.SECTION_NAME} does not decode: {exc}") from exc


def _cmd_show(args: argparse.Namespace) -> int:
    from . import codec, render
    from .format import SECTION_NAME

    data, pol = _load_record(args.binary)
    if data is None or pol is None:
        print(f"{args.binary}: no {SECTION_NAME} section", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(codec.to_json_obj(pol), indent=2))
    else:
        print(render.text(pol, args.binary, len(data)))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .format import SECTION_NAME

    try:
        data, pol = _load_record(args.binary)
    except SortoError as exc:
        print(f"sorto: {exc}", file=sys.stderr)
        return 1
    if data is None:
        print(f"{args.binary}: no {SECTION_NAME} section", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"{args.binary}: ok ({len(data)} bytes, status {pol['profile']['status']})")
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    from . import codec, policy

    record = codec.encode(policy.load(args.policy))
    if args.output == "-":
        sys.stdout.buffer.write(record)
    else:
        Path(args.output).write_bytes(record)
    return 0


def _cmd_genheader(args: argparse.Namespace) -> int:
    from . import genheader

    text = genheader.render()
    args.output = args.output or genheader.HEADER_PATH
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).exists() else ""
        if current != text:
            print(f"{args.output}: out of date; run 'sorto genheader'", file=sys.stderr)
            return 1
        return 0
    Path(args.output).write_text(text)
    return 0


def _cmd_guest(args: argparse.Namespace) -> int:
    from .guest import build  # imported late: only this command needs it

    art = build.build_guest(args.kernel, cache=args.cache, jobs=args.jobs, progress=not args.quiet,
                            flavour=args.flavour)
    print(json.dumps(art.as_dict(), indent=2))
    return 0


def _cmd_parse(args: argparse.Namespace) -> int:
    from . import parse  # imported late: only this command needs it

    def warn(msg: str) -> None:
        print(msg, file=sys.stderr)

    results = parse.parse_paths(args.paths, Path(args.out), args.format, args.lenient, warn, args.engine)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            if r.type is None:
                continue
            extra = f", {r.skipped} malformed lines skipped" if r.skipped else ""
            extra += ", PARTIAL: " + "; ".join(r.notes) if r.partial else ""
            print(f"{r.file}: {r.type}, {r.rows} rows -> {r.output}{extra}")
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    from . import trace  # imported late: only this command needs it

    argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    opts = trace.TraceOptions(argv=argv, out=Path(args.out), kernel=args.kernel, flavour=args.flavour,
                              cache=args.cache,
                              buffer_kb=args.buffer_kb, max_lines=args.max_lines, timeout=args.timeout,
                              put=args.put or [], console_log=Path(args.console_log) if args.console_log else None,
                              progress=not args.quiet, ssh=args.ssh, ssh_port=args.ssh_port, ssh_key=args.ssh_key,
                              ssh_options=args.ssh_option or [])
    out, manifest = trace.trace_ssh(opts) if args.ssh else trace.trace_qemu(opts)
    for t in manifest["tracers"]:
        extra = t.get("reason") or ", ".join(f"{x['file']} (missing)" if x.get("missing") else
                                             f"{x['file']} ({x['lines']} lines)" for x in t.get("logs", []))
        print(f"{t['tracer']}: {t['status']}: {extra}")
    print(f"{out}/manifest.json ({manifest['target']})")
    if manifest["exit_status"]:
        print(f"sorto: the command exited with status {manifest['exit_status']}", file=sys.stderr)
        return 1
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from . import analyze  # imported late: only this command needs it
    from .progress import Progress

    opts = analyze.Options(
        sram_budget=args.sram_budget, system_map=args.system_map, vmlinux=args.vmlinux,
        pids=[p for group in args.pid or [] for p in group], comm=args.comm, exclude=args.exclude,
        scratch_min_share=args.scratch_min_share, scratch_max=args.scratch_max, irq_min_count=args.irq_min_count,
        irq_min_share=args.irq_min_share, irq_away_share=args.irq_away_share, irq_softirqs=args.irq_softirqs,
        sched_latency_us=args.sched_latency_us,
        sched_min_samples=args.sched_min_samples, sched_policy=args.sched_policy,
        sched_priority=args.sched_priority, mlock_min_kb=args.mlock_min_kb, lenient=args.lenient,
        background_for=args.background_for, background_share=args.background_share)
    result = analyze.analyze(args.trace_dir, opts, Progress(enabled=None if not args.quiet else False))
    out = analyze.write(result.policy, args.output)
    for w in result.warnings:
        print(f"sorto: {w}", file=sys.stderr)
    if not args.quiet:
        pol = result.policy
        sched = pol.get("sched", {}).get("policy", "-")
        print(f"{out}: scratchpad {len(pol['scratchpad'])}, mlock {len(pol['mlock'])}, "
              f"irq_defer {len(pol['irq_defer'])}, sched {sched}{' (PARTIAL)' if result.partial else ''}")
    return 0


def _cmd_optimize(args: argparse.Namespace) -> int:
    from . import optimize  # imported late: only this command needs it
    from .optimize import summary

    argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if args.ssh:
        target = optimize.BoardTarget(args.ssh, args.ssh_port, args.ssh_key, args.ssh_option or [], args.module)
    else:
        target = optimize.QemuTarget(kernel=args.kernel, flavour=args.flavour, append=args.append,
                                     qemu_args=args.qemu_arg or [], smp=args.smp, icount=not args.no_icount,
                                     cache=args.cache, progress=not args.quiet)
    opts = optimize.Options(argv=argv, out=Path(args.out), rounds=args.rounds, loads=args.load or [],
                            baselines=args.baseline or [], metrics=args.metric or [],
                            binary=Path(args.binary) if args.binary else None, module_args=args.module_args,
                            sram_budget=args.sram_budget, trace_after=args.trace_after, mark_loads=args.mark_loads,
                            tune=args.tune, timeout=args.timeout,
                            progress=not args.quiet)
    res = optimize.run(target, opts)
    print(summary.words(res))
    print()
    print(summary.table(res))
    print()
    print(summary.actions(res))
    print(f"\n{args.out}/report.html, {args.out}/results.json, {args.out}/policy.json")
    return 0


def _cmd_scratchpad_list(args: argparse.Namespace) -> int:
    from . import scratchlist

    sram = scratchlist.parse_size(args.size)
    text, decisions = scratchlist.make_list(args.kernel, args.policies, sram, args.output)
    if args.output is None:
        sys.stdout.write(text)
    if not args.quiet:
        placed = [d for d in decisions if d.placed]
        used = sum(d.size for d in placed)
        where = args.output or "stdout"
        print(f"{where}: {len(placed)} of {len(decisions)} functions, {used} of {sram} bytes", file=sys.stderr)
        full = [d for d in decisions if not d.placed and d.why.startswith("does not fit")]
        for d in decisions:
            if not d.placed and d not in full:
                print(f"  left out {d.wish.name}: {d.why}", file=sys.stderr)
        if full:
            print(f"  {len(full)} more did not fit (listed in the output's comments)", file=sys.stderr)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    try:
        from . import report  # imported late: only this command needs it (and matplotlib)
    except ImportError as exc:
        raise SortoError(f"sorto report needs matplotlib ({exc}): pip install 'sorto[report]'") from exc
    from .progress import Progress

    out = report.build(args.trace_dir, args.output, compare=args.compare, system_map=args.system_map,
                       vmlinux=args.vmlinux, pids=[p for group in args.pid or [] for p in group], comm=args.comm,
                       lenient=args.lenient, top=args.top,
                       progress=Progress(enabled=None if not args.quiet else False))
    if not args.quiet:
        print(f"{out}")
    return 0


def _pid_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a pid or comma-separated pids: {text!r}") from exc


def _add_analyze_parsers(sub: argparse._SubParsersAction) -> None:
    from .analyze_options import HELP, Options

    d = Options()
    s = sub.add_parser(
        "analyze", help="derive a policy from a trace folder, with the evidence behind each decision",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read TRACE_DIR (written by 'sorto trace'; logs detected by content as in 'sorto parse') "
        "and write a policy valid against the schema, byte-identical for the same input, with an 'evidence' "
        "part giving the numbers behind every decision:\n"
        "  scratchpad  kernel functions ranked by time share (function profile, else function trace calls), "
        "fitted\n              greedily into --sram-budget by their real sizes from --system-map/--vmlinux "
        "(skipped\n              without a symbol table: sizes are never guessed)\n"
        "  mlock       regions referenced in smaps*.txt files of the folder (skipped without them)\n"
        "  irq_defer   interrupts that preempted the application, except its own (those that woke it); "
        "softirqs\n              are counted in the evidence (listed with --irq-softirqs)\n"
        "  sched       a real-time policy when the p99 scheduling delay exceeds --sched-latency-us; with\n"
        "              --background-for COMM, SCHED_BATCH nice 19 when the program held the CPU while COMM\n"
        "              waited\n"
        "The application is found by --pid, else --comm, else the manifest's command. A missing manifest, "
        "truncated\nor changed logs give a partial result: written, flagged in evidence.partial, and "
        "warned about on stderr.\nExit 2 on unusable input (the message names the file). Details: "
        "docs/analyze.md.")
    s.add_argument("trace_dir", metavar="TRACE_DIR")
    s.add_argument("--output", "-o", required=True, help="policy file to write (JSON; written atomically)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--system-map", metavar="PATH",
                   help="kernel System.map (may be .gz); sizes = distance to the next symbol address")
    g.add_argument("--vmlinux", metavar="PATH", help="unstripped vmlinux; sizes = ELF st_size")
    s.add_argument("--pid", action="append", type=_pid_list, metavar="PID[,PID...]",
                   help="the application's pids in the events log (default: found by command name)")
    s.add_argument("--comm", help="the application's task name (default: base name of the manifest command)")
    s.add_argument("--sram-budget", type=int, default=d.sram_budget, metavar="BYTES",
                   help=f"{HELP['sram_budget']} (default {d.sram_budget}, the vexpress-a15 on-chip SRAM)")
    s.add_argument("--exclude", default=d.exclude, metavar="REGEX",
                   help=f"{HELP['exclude']} (default: idle/sleep/wait functions, listed in docs/analyze.md)")
    for name, typ, metavar in (("scratch_min_share", float, "SHARE"), ("scratch_max", int, "N"),
                               ("irq_min_count", int, "N"), ("irq_min_share", float, "SHARE"),
                               ("irq_away_share", float, "SHARE"), ("sched_latency_us", float, "US"),
                               ("sched_min_samples", int, "N"), ("sched_priority", int, "PRIO"),
                               ("mlock_min_kb", int, "KB"), ("background_share", float, "SHARE")):
        s.add_argument("--" + name.replace("_", "-"), type=typ, default=getattr(d, name), metavar=metavar,
                       help=f"{HELP[name]} (default {getattr(d, name):g})")
    s.add_argument("--background-for", metavar="COMM", help=HELP["background_for"] + " (docs/analyze.md)")
    s.add_argument("--irq-softirqs", action="store_true",
                   help="also list softirqs that pass the irq thresholds, as name 'softirq:ACTION' (default: "
                   "counted in the evidence only, the format names interrupts by number or action)")
    s.add_argument("--sched-policy", choices=["fifo", "rr"], default=d.sched_policy,
                   help=f"{HELP['sched_policy']} (default {d.sched_policy})")
    s.add_argument("--lenient", action="store_true", help="skip malformed log lines (result flagged partial)")
    s.add_argument("--quiet", "-q", action="store_true", help="no summary line, no progress")
    s.set_defaults(func=_cmd_analyze)

    s = sub.add_parser(
        "report", help="a self-contained HTML report of a trace folder (optionally against another)",
        description="Write one HTML file (charts embedded as PNG data: URIs, no external links) with the top "
        "syscalls by time (strace -c summary; else the sys_* entries of the kernel function profile), the top "
        "kernel functions, an interrupt and preemption timeline, and a wake-up latency histogram of the "
        "application. With --compare OTHER_DIR every section shows TRACE_DIR and OTHER_DIR side by side "
        "(before/after). A section without data says what is missing. The file is written atomically. "
        "Exit 2 on unusable input.")
    s.add_argument("trace_dir", metavar="TRACE_DIR")
    s.add_argument("--compare", metavar="OTHER_DIR", help="a second trace folder shown beside the first")
    s.add_argument("--output", "-o", required=True, help="HTML file to write")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--system-map", metavar="PATH", help="kernel System.map (function sizes in the table)")
    g.add_argument("--vmlinux", metavar="PATH", help="unstripped vmlinux (function sizes in the table)")
    s.add_argument("--pid", action="append", type=_pid_list, metavar="PID[,PID...]",
                   help="the application's pids (default: found by command name)")
    s.add_argument("--comm", help="the application's task name (default: from the manifest)")
    s.add_argument("--top", type=int, default=15, help="rows in the top syscall and function charts (default 15)")
    s.add_argument("--lenient", action="store_true", help="skip malformed log lines")
    s.add_argument("--quiet", "-q", action="store_true", help="no output line, no progress")
    s.set_defaults(func=_cmd_report)


def _add_target_args(s: argparse.ArgumentParser, verb: str) -> None:
    """--qemu or --ssh USER@HOST and the ssh options: the same for every command that reaches a target."""
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--qemu", action="store_true", help=f"{verb} in the QEMU test guest")
    where.add_argument("--ssh", metavar="USER@HOST", help=f"{verb} on a board over SSH")
    s.add_argument("--ssh-port", type=int, help="SSH port (default: ssh's)")
    s.add_argument("--ssh-key", help="SSH identity file (default: ssh's)")
    s.add_argument("--ssh-option", action="append", metavar="OPT",
                   help="extra ssh -o option, repeatable (e.g. StrictHostKeyChecking=accept-new)")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (kept separate so --help texts are testable)."""
    p = argparse.ArgumentParser(
        prog="sorto",
        description="meta-sorto: carry per-application kernel policies inside ELF executables.",
    )
    p.add_argument("--version", action="version", version=f"sorto {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inject", help="encode a policy into a binary's .elf_hook_module_data section",
                       description="Validate POLICY, encode it and add or replace the section in BINARY "
                       "with the objcopy of the binary's machine. The file is replaced atomically "
                       "(temporary file + rename) and keeps its mode; running it twice gives the same bytes.")
    s.add_argument("binary")
    s.add_argument("--policy", required=True, help="policy file (YAML or JSON)")
    s.add_argument("--output", "-o", help="write here instead of replacing BINARY")
    s.add_argument("--objcopy", help="objcopy command to use (default: $OBJCOPY, then by ELF machine)")
    s.add_argument("--quiet", "-q", action="store_true")
    s.set_defaults(func=_cmd_inject)

    s = sub.add_parser("inject-many", help="mark many binaries in one process (what the build layers run)",
                       description="PLAN is a file ('-': stdin) of lines BINARY<TAB>POLICY. Every distinct "
                       "policy is validated and encoded once, all of them before the first binary is touched; "
                       "then the binaries are marked in place, in parallel, each as 'sorto inject' would "
                       "(atomic replace, mode kept). On failures the other binaries are still marked and the "
                       "first failure in plan order is reported (exit 2).")
    s.add_argument("plan", metavar="PLAN")
    s.add_argument("--objcopy", help="objcopy command to use (default: $OBJCOPY, then by ELF machine)")
    s.add_argument("--jobs", "-j", type=int, metavar="N", help="parallel objcopy runs (default: CPUs available)")
    s.add_argument("--quiet", "-q", action="store_true")
    s.set_defaults(func=_cmd_inject_many)

    s = sub.add_parser("show", help="decode and print a binary's metadata",
                       description="Print the decoded metadata of BINARY; exit 1 if it has none.")
    s.add_argument("binary")
    s.add_argument("--json", action="store_true", help="print the decoded policy as JSON")
    s.set_defaults(func=_cmd_show)

    s = sub.add_parser("verify", help="exit 0 if the binary carries metadata that decodes, else 1")
    s.add_argument("binary")
    s.add_argument("--quiet", "-q", action="store_true")
    s.set_defaults(func=_cmd_verify)

    s = sub.add_parser("encode", help="encode a policy into a raw record file (for tests and tools)")
    s.add_argument("policy")
    s.add_argument("--output", "-o", default="-", help="output file, '-' for stdout")
    s.set_defaults(func=_cmd_encode)

    s = sub.add_parser("genheader", help="regenerate the C header of the record format")
    s.add_argument("--output", "-o", help="header file (default meta-sorto/recipes-kernel/sorto-hook/files/"
                   "sorto_format.h)")
    s.add_argument("--check", action="store_true", help="exit 1 if the file differs instead of writing")
    s.set_defaults(func=_cmd_genheader)

    s = sub.add_parser("guest", help="build the QEMU test guest (patched kernel, module, initramfs)",
                       description="Build the test guest for KERNEL from Debian's linux-source package "
                       "and the project's patch series; artifacts are cached by a hash of their inputs.")
    s.add_argument("action", choices=["build"])
    s.add_argument("--kernel", default="6.12", help="kernel series: 6.12 or 6.1 (default 6.12)")
    s.add_argument("--flavour", choices=["release", "debug", "scratchpad", "board"],
                   default="release",
                   help="release (default: what is profiled and demonstrated), debug (adds KASAN and lockdep, "
                   "as the kernel-path tests use), scratchpad (-M vexpress-a15, the functions of "
                   "scratchpad.list in on-chip SRAM; see docs/scratchpad.md) or board (release plus IPv4 on "
                   "virtio-net and dropbear: a board for 'sorto optimize --ssh'; docs/optimize.md)")
    s.add_argument("--cache", help="cache folder (default $SORTO_CACHE or ~/.cache/sorto)")
    s.add_argument("--jobs", "-j", type=int, default=0, help="parallel build jobs (default: all cores)")
    s.add_argument("--quiet", "-q", action="store_true")
    s.set_defaults(func=_cmd_guest)

    s = sub.add_parser(
        "scratchpad-list", help="choose the kernel functions for the on-chip SRAM from an image's policies",
        description="Sum the scratchpad entries (weights) of every policy given (YAML/JSON files, folders of "
        "them, or executables that carry a section), drop the functions the kernel cannot move, and fit the "
        "rest into SIZE bytes of SRAM by weight per byte, with the sizes the linker uses. KERNEL is the "
        "kernel's vmlinux.o from a build with CONFIG_ARM_SCRATCHPAD_FUNCTIONS set (exact: the post-link "
        "check's own rules), or its vmlinux or System.map (assembly then goes unchecked until the kernel's "
        "post-link check). The output is the file CONFIG_ARM_SCRATCHPAD_FUNCTIONS names, written atomically, "
        "with what was left out and why as comments. See docs/scratchpad.md.")
    s.add_argument("policies", nargs="+", metavar="POLICY", help="policy files, folders, or marked executables")
    s.add_argument("--kernel", "-k", required=True, help="vmlinux.o (exact), vmlinux or System.map")
    s.add_argument("--size", "-s", default="64K", help="SRAM bytes: 65536, 0x10000 or 64K (default 64K)")
    s.add_argument("--output", "-o", help="list file to write (default: stdout)")
    s.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    s.set_defaults(func=_cmd_scratchpad_list)

    s = sub.add_parser("parse", help="turn raw trace logs into tidy tables (one per log)",
                       description="Detect each log's type from its content and write one table per log "
                       "into OUT: strace_summary, strace_timestamps, ftrace_function, ftrace_function_graph, "
                       "ftrace_function_profile, ftrace_events, perf_script, perf_sched_latency, "
                       "perf_sched_timehist (columns: docs/parse.md). Folders are read recursively; in a "
                       "folder, files of no known type are skipped with a warning. Exit 2 on an unknown or "
                       "empty file named explicitly, or on a malformed line (reported as FILE:LINE) unless "
                       "--lenient. Tables are written atomically.")
    s.add_argument("paths", nargs="+", metavar="PATH", help="log files or folders")
    s.add_argument("--out", "-o", required=True, help="output folder")
    s.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table format (default csv)")
    s.add_argument("--json", action="store_true",
                   help='print a JSON list of {"file", "type", "rows", "output", "skipped", "partial", "notes"}')
    s.add_argument("--lenient", action="store_true", help="skip and count malformed lines instead of failing")
    s.add_argument("--engine", choices=["auto", "python", "fast"], default="auto",
                   help="auto (default): the compiled fast path for big ftrace function/function_graph CSV "
                   "tables, else the reference parsers; python: always the reference; fast: the fast path "
                   "whenever it applies. Same output either way")
    s.set_defaults(func=_cmd_parse)

    s = sub.add_parser("trace", help="run a command under tracing on a target and bring the raw logs home",
                       description="Run COMMAND in the QEMU test guest (--qemu) or on a board over SSH "
                       "(--ssh USER@HOST) once per tracer: the ftrace function profiler (system-wide while "
                       "COMMAND runs), the function and function_graph tracers (restricted to COMMAND's pid and "
                       "children), the irq/sched events, strace -f -c, strace -f -r, and /proc/PID/smaps and "
                       "/proc/PID/stat (fault counters) sampled around the run. Tracers the target lacks or "
                       "refuses are reported as skipped. A COMMAND given as a relative path to a host file "
                       "(./prog) is copied to the target (guest: /t/bin, board: /tmp/sorto-trace/bin); absolute "
                       "paths are the target's. OUT gets one text log per tracer and manifest.json (command, "
                       "target, kernel release, tracers, duration, files with sha256); it appears complete or "
                       "not at all. Over SSH the ftrace passes need root on the board; ssh runs in batch mode "
                       "(keys or an agent). Exit 1 if COMMAND exits non-zero (logs are still written).")
    _add_target_args(s, "trace")
    s.add_argument("--kernel", default="6.12", help="guest kernel series for --qemu: 6.12 or 6.1 (default 6.12)")
    s.add_argument("--flavour", choices=["release", "debug"], default="release",
                   help="guest kernel flavour for --qemu (default release: a debug kernel's KASAN and lockdep "
                   "functions would top the profile)")
    s.add_argument("--out", "-o", required=True, help="output folder (must not exist or be empty)")
    s.add_argument("--cache", help="guest cache folder (default $SORTO_CACHE or ~/.cache/sorto)")
    s.add_argument("--buffer-kb", type=int, default=256, help="ftrace buffer_size_kb per CPU (default 256)")
    s.add_argument("--max-lines", type=int, default=20000,
                   help="at most this many lines of each log are brought home (default 20000)")
    s.add_argument("--timeout", type=float, default=300.0, help="seconds per traced run (default 300)")
    s.add_argument("--put", action="append", metavar="HOST[:GUEST]",
                   help="also copy a host file into the guest (default guest folder /t/bin)")
    s.add_argument("--console-log", help="keep the guest's console log here (--qemu)")
    s.add_argument("--quiet", "-q", action="store_true")
    s.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")
    s.set_defaults(func=_cmd_trace)

    s = sub.add_parser(
        "optimize", help="the whole loop on a target: measure, trace, analyze, inject, measure again, report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run COMMAND on a target beside its --load programs and close the loop:\n"
        "  1. profile: COMMAND under every tracer of 'sorto trace' (OUT/trace-before)\n"
        "  2. decide: 'sorto analyze' makes COMMAND's policy (OUT/policy.json) and each load program's\n"
        "     (OUT/policy-PROG.json; --background-for: SCHED_BATCH nice 19 when it held the CPU while\n"
        "     COMMAND waited)\n"
        "  3. inject: COMMAND's policy into a copy of its executable (OUT/bin); with --mark-loads or\n"
        "     --tune the loads' policies into theirs (a busybox applet, or a program that cannot be copied\n"
        "     home, runs unmarked; the summary says why)\n"
        "  (--tune) choose: COMMAND with its policy, beside the loads as they are and marked, --tune runs\n"
        "     each, interleaved; the better median of the first metric is kept for the metadata side\n"
        "  4. measure: --rounds runs of each side in one session, interleaved and rotated: without metadata,\n"
        "     each --baseline (hand tuning), with metadata; read the kernel's record (action lines); with\n"
        "     --trace-after, trace the marked COMMAND too (OUT/trace-after)\n"
        "  5. report: a terminal summary and table (min, median, max), OUT/report.html (the measured values,\n"
        "     their charts and the action lines over the profile's charts), OUT/results.json\n"
        "The figures compared are read from COMMAND's output: cyclictest's summary lines (run it with -q) or\n"
        "--metric NAME=REGEX. The QEMU guest boots twice (the marked copies ride in the second boot's\n"
        "initramfs); with -icount its clock follows executed instructions, so host load does not reach the\n"
        "guest's latencies (QEMU 7.2 then boots one CPU only). A board over SSH needs sorto_hook loaded\n"
        "(or --module) and root for the tracers; its executables are copied home over ssh to be marked.\n"
        "OUT holds a complete run or nothing. See docs/optimize.md.")
    _add_target_args(s, "run")
    s.add_argument("--module", metavar="PATH", help="board: insmod this sorto_hook.ko when it is not loaded")
    s.add_argument("--out", "-o", required=True, help="output folder (must not exist or be empty)")
    s.add_argument("--rounds", type=int, default=5, help="runs of each side (default 5)")
    s.add_argument("--load", action="append", metavar="CMD",
                   help="background load, restarted in a loop while COMMAND runs (repeatable)")
    s.add_argument("--mark-loads", action="store_true",
                   help="also inject the --load programs' policies (SCHED_BATCH nice 19 when one held the CPU "
                   "while COMMAND waited) and run the marked loads on the metadata side; without it their "
                   "policies are only written (policy-PROG.json)")
    s.add_argument("--tune", type=int, default=0, metavar="ROUNDS",
                   help="before the measured rounds, run the application ROUNDS times with its policy alone and "
                   "with the loads' policies too, and keep the better median of the first metric (default 0: "
                   "off; the loads run marked only with --mark-loads)")
    s.add_argument("--baseline", action="append", metavar="PREFIX",
                   help="a hand-tuning side: a prefix ('chrt -f 80 taskset -c 0') or a template with {cmd} "
                   "(repeatable)")
    s.add_argument("--metric", action="append", metavar="NAME=REGEX[:higher]",
                   help="a number of COMMAND's output to compare (group 'value' or group 1; lower is better "
                   "unless :higher); default for cyclictest: its max, avg and min latency")
    s.add_argument("--binary", metavar="PATH",
                   help="host copy of COMMAND's executable (default: the guest's own; on a board, its file "
                   "copied home over ssh into OUT/board)")
    s.add_argument("--module-args", default="", metavar="ARGS",
                   help="sorto_hook module parameters for the guest (e.g. irq_allow=virtio0)")
    s.add_argument("--sram-budget", type=int, metavar="BYTES",
                   help="scratchpad budget for the analyzer (default: 0 on the -M virt guest, which has no SRAM)")
    s.add_argument("--kernel", default="6.12", help="guest kernel series: 6.12 or 6.1 (default 6.12)")
    s.add_argument("--flavour", choices=["release", "debug"], default="release", help="guest kernel flavour")
    s.add_argument("--append", default="threadirqs", help="guest kernel command line (default threadirqs)")
    s.add_argument("--qemu-arg", action="append", metavar="ARG",
                   help="extra QEMU argument, repeatable (e.g. --qemu-arg=-device --qemu-arg=virtio-rng-device)")
    s.add_argument("--smp", type=int, default=1, help="guest CPUs (default 1; more need --no-icount)")
    s.add_argument("--no-icount", action="store_true",
                   help="let the guest clock follow the host's (host load then shows up as guest latency)")
    s.add_argument("--cache", help="guest cache folder (default $SORTO_CACHE or ~/.cache/sorto)")
    s.add_argument("--trace-after", action="store_true",
                   help="trace the marked COMMAND too, and show both traces side by side in the report")
    s.add_argument("--timeout", type=float, default=600.0, help="seconds per run of COMMAND (default 600)")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    s.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")
    s.set_defaults(func=_cmd_optimize)

    _add_analyze_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sorto`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SortoError as exc:
        print(f"sorto: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
