"""``sorto trace --qemu``: trace a command in the cached QEMU test guest.

The guest is the one ``sorto guest build`` makes (built or reused here).  A
host file named as the command (or given with ``--put``) rides into the
guest in a cpio appended to the cached initramfs, as the QEMU tests do, so
the base image is never rebuilt for a new program.  Logs come home by
``cat`` over the serial console (``Guest.check`` returns the output).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import SortoError
from .manifest import OutDir
from .run import TraceOptions, log, run_passes

GUEST_BIN = "/t/bin"


def payload_files(opts: TraceOptions, guest_bin: str = GUEST_BIN) -> tuple[dict[str, Path], list[str]]:
    """Host files to ship (target path -> host path) and the argv as the target sees it."""
    files: dict[str, Path] = {}
    for spec in opts.put:
        host, sep, gpath = spec.partition(":")
        hp = Path(host)
        if not hp.is_file():
            raise SortoError(f"--put {spec}: {host} is not a file")
        files[gpath if sep else f"{guest_bin}/{hp.name}"] = hp.resolve()
    argv = list(opts.argv)
    first = Path(argv[0])
    # A relative path to a host file (./prog, build/prog) is shipped; an
    # absolute path or a bare name is the guest's own (/usr/bin/x, busybox ls).
    if "/" in argv[0] and not first.is_absolute() and first.is_file():
        gpath = f"{guest_bin}/{first.name}"
        files[gpath] = first.resolve()
        argv[0] = gpath
    return files, argv


def _qemu_version() -> str:
    try:
        out = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    return out.splitlines()[0] if out else "unknown"


def trace_qemu(opts: TraceOptions) -> tuple[Path, dict]:
    """Run every available tracer pass; return the output folder and the manifest."""
    from ..guest import build  # late: pulls in the build machinery
    from ..guest.harness import Guest

    if not opts.argv:
        raise SortoError("no command to trace (give it after --)")
    out = OutDir(opts.out)
    try:
        art = build.build_guest(opts.kernel, cache=opts.cache, progress=opts.progress, flavour=opts.flavour)
        files, argv = payload_files(opts)
        with tempfile.TemporaryDirectory(prefix="sorto-trace-") as td:
            parts: list[Path] = [art.initramfs]
            if files:
                parts.append(build.payload_cpio(art, files, Path(td) / "payload.cpio.gz"))
            console = opts.console_log or Path(td) / "console.log"
            log(opts, f"booting the {opts.kernel} guest")
            t0 = time.monotonic()
            with Guest(art.zimage, parts, console) as g:
                boot_s = time.monotonic() - t0
                manifest = run_passes(g, opts, argv, out, target=f"qemu:{g.release}", kernel_series=opts.kernel,
                                      files=files)
                manifest["boot_s"] = round(boot_s, 3)
                manifest["tools"]["qemu"] = _qemu_version()
        final = out.commit(manifest)
    except BaseException:
        out.discard()
        raise
    return final, manifest
