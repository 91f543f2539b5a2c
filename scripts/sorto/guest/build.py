"""Build the QEMU test guest from Debian packages, with a content-addressed cache.

Each artifact lives in a folder named by the hash of its inputs:

* kernel: Debian's ``linux-source-X`` (package version), the patch series,
  the flavour's config fragments, the cross compiler's version and this
  file's recipe version;
* module: the kernel key and the module sources;
* programs: their sources and the compiler;
* initramfs: all of the above plus busybox and the init script.

A warm run only checks that the folders exist (a ``done`` stamp is written
last, so an interrupted build is never reused).  Inputs are hashed, not
timestamps, so a fresh clone in another folder reuses the same cache.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import SortoError

KERNEL_RECIPE = "4"  # bump when the kernel build steps change (forces a rebuild)
RECIPE_VERSION = "4"  # bump when the programs or initramfs steps change
CROSS = "arm-linux-gnueabihf-"
KERNELS = ("6.12", "6.1")
# Kernel flavours: config fragments applied in order on top of allnoconfig.
# "debug" (KASAN, lockdep) runs the kernel-path and attack tests; "release"
# is what gets profiled, benchmarked and demonstrated, since debug
# instrumentation dominates function profiles and latencies.
FLAVOURS: dict[str, tuple[str, ...]] = {
    "debug": ("guest.config", "debug.config", "block.config"),
    "release": ("guest.config",),
    # -M vexpress-a15, with the functions of scratchpad.list in on-chip SRAM
    "scratchpad": ("guest.config", "scratchpad.config", "block.config"),
    # a board reached over SSH: the release guest plus IPv4 on virtio-net and dropbear
    "board": ("guest.config", "board.config"),
}
# The machine each flavour boots, and the device tree it needs (built from
# the kernel tree; -M virt makes its own).
MACHINES = {"scratchpad": ("vexpress-a15", "vexpress-v2p-ca15-tc1.dtb")}
#: The boot parameter that puts the scratchpad block in vexpress-a15's 64 KiB SRAM.
SCRATCHPAD_PARAM = "scratchpad=64K@0x2e000000"

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PATCH_ROOT = REPO / "kernel-patches"
MODULE_SRC = REPO / "meta-sorto" / "recipes-kernel" / "sorto-hook" / "files"
SCRATCHPAD_LIST = HERE / "scratchpad.list"
# glibc for the dynamic programs; librt and libpthread are glibc 2.36's empty
# compatibility stubs that rt-tests still names in DT_NEEDED.
GUEST_LIBS = ["ld-linux-armhf.so.3", "libc.so.6", "librt.so.1", "libpthread.so.0"]
# Third-party programs from Debian armhf packages: (package, path in it, guest path).
# rt-tests gives the demo its real-time workload (cyclictest) and load (hackbench).
GUEST_DEB_FILES = [
    ("strace", "usr/bin/strace", "/usr/bin/strace"),
    ("util-linux", "usr/bin/chrt", "/usr/bin/chrt"),
    ("rt-tests", "usr/bin/cyclictest", "/usr/bin/cyclictest"),
    ("rt-tests", "usr/bin/hackbench", "/usr/bin/hackbench"),
    ("libnuma1", "usr/lib/arm-linux-gnueabihf/libnuma.so.1.0.0", "/lib/libnuma.so.1"),
]
CROSS_LIBDIR = Path("/usr/arm-linux-gnueabihf/lib")
# What a flavour adds to the base image: the board flavour's SSH server (Debian's
# dropbear, the usual choice on small boards) and the libraries it links.
FLAVOUR_DEB_FILES: dict[str, list[tuple[str, str, str]]] = {
    "board": [
        ("dropbear-bin", "usr/sbin/dropbear", "/usr/sbin/dropbear"),
        ("libcrypt1", "lib/arm-linux-gnueabihf/libcrypt.so.1.1.0", "/lib/libcrypt.so.1"),
        ("libtomcrypt1", "usr/lib/arm-linux-gnueabihf/libtomcrypt.so.1.0.1", "/lib/libtomcrypt.so.1"),
        ("libtommath1", "usr/lib/arm-linux-gnueabihf/libtommath.so.1.2.0", "/lib/libtommath.so.1"),
        ("libgmp10", "usr/lib/arm-linux-gnueabihf/libgmp.so.10.4.1", "/lib/libgmp.so.10"),
        ("zlib1g", "lib/arm-linux-gnueabihf/libz.so.1.2.13", "/lib/libz.so.1"),
    ],
}

# Test programs: name -> (source, extra compiler flags).  Debian's armhf
# cross glibc ships no rcrt1.o, so there is no static-PIE variant.
PROGRAMS: dict[str, tuple[str, list[str]]] = {
    "hello-static": ("hello.c", ["-static", "-no-pie"]),
    "hello-dyn-pie": ("hello.c", ["-fPIE", "-pie"]),
    "hello-dyn-nopie": ("hello.c", ["-fno-PIE", "-no-pie"]),
    "execloop": ("execloop.c", ["-static"]),
    "execstat": ("execstat.c", ["-static"]),
    "syscall_hammer": ("syscall_hammer.c", ["-static"]),
    "policyprobe": ("policyprobe.c", ["-static"]),
    "policyprobe-dyn-pie": ("policyprobe.c", ["-fPIE", "-pie"]),
    "runas": ("runas.c", ["-static"]),
    "wakelat": ("wakelat.c", ["-static"]),
    "stackgrow": ("stackgrow.c", ["-static"]),
    "memdump": ("memdump.c", ["-static"]),
    "fuse_hold": ("fuse_hold.c", ["-static"]),
    # LD_PRELOAD library of the attack tests: not an executable
    "evil.so": ("evil.c", ["-shared", "-fPIC"]),
}


@dataclasses.dataclass
class GuestArtifacts:
    """Paths of one built guest."""

    kernel_series: str
    flavour: str
    release: str
    machine: str
    dtb: Path | None
    zimage: Path
    system_map: Path
    kernel_tree: Path
    module: Path
    initramfs: Path
    programs: Path
    cpio_tool: Path

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in dataclasses.asdict(self).items()}


def cache_root(explicit: str | Path | None = None) -> Path:
    """Return the cache folder: explicit, else $SORTO_CACHE, else ~/.cache/sorto."""
    if explicit:
        return Path(explicit).resolve()
    env = os.environ.get("SORTO_CACHE")
    if env:
        return Path(env).resolve()
    return Path.home() / ".cache" / "sorto"


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[sorto guest] {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], cwd: Path | None = None, log: Path | None = None, env: dict | None = None) -> None:
    """Run a build step; on failure raise with the tail of its output."""
    full_env = {**os.environ, **(env or {})}
    if log is None:
        proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, check=False)
        out = proc.stdout + proc.stderr
    else:
        with log.open("a") as fh:
            fh.write(f"$ {' '.join(cmd)}\n")
            fh.flush()
            proc = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=fh, stderr=subprocess.STDOUT, check=False)
        out = log.read_text(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-25:])
        where = f" (log: {log})" if log else ""
        raise SortoError(f"build step failed{where}: {' '.join(cmd)}\n{tail}")


def _capture(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SortoError(f"cannot run {cmd[0]}: {exc} (run 'make deps' first)") from exc


def input_digest(*parts: bytes | str) -> str:
    """Short sha256 of length-prefixed parts: the key of a cached artifact.

    Length prefixes keep two different input lists from concatenating to the
    same bytes.  Public because the test suite keys its own caches (BitBake
    build dirs, yocto-check-layer results) the same way.
    """
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:16]


def _files_digest(paths: list[Path]) -> str:
    return input_digest(*[f"{p.name}\0".encode() + p.read_bytes() for p in sorted(paths)])


def _jobs(jobs: int) -> int:
    return jobs if jobs > 0 else (os.cpu_count() or 1)


def _stamp_ok(d: Path) -> bool:
    return (d / "done").is_file()


def _fresh(d: Path) -> Path:
    """Return an empty temporary sibling of ``d`` to build into before renaming."""
    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = d.with_name(d.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def _commit(tmp: Path, final: Path) -> None:
    (tmp / "done").write_text("ok\n")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _prune(root: Path, prefix: str, current: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest cache entries named ``prefix*``.

    Kernel trees are about 2 GB each; without pruning, every change to the
    patches or the config would leave one behind.  ``current`` is never
    deleted.  Entries are ordered by modification time.
    """
    entries = [p for p in root.glob(prefix + "*") if p != current and not p.name.endswith(".tmp")]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[max(keep - 1, 0):]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def _flavour_config(flavour: str) -> bytes:
    """The flavour's config fragments, concatenated; ``@LIST@`` stands for the scratchpad list."""
    if flavour not in FLAVOURS:
        raise SortoError(f"unknown guest flavour {flavour!r}: choose one of {', '.join(FLAVOURS)}")
    return b"".join((HERE / name).read_bytes() for name in FLAVOURS[flavour])


def kernel_inputs(series: str, flavour: str) -> tuple[Path, list[Path], str]:
    """Return the source tarball, the patch series and the input key of a kernel."""
    if series not in KERNELS:
        raise SortoError(f"unsupported guest kernel {series!r}: choose one of {', '.join(KERNELS)}")
    config = _flavour_config(flavour)
    tarball = Path(f"/usr/src/linux-source-{series}.tar.xz")
    if not tarball.is_file():
        raise SortoError(f"{tarball}: missing; install linux-source-{series} (make deps)")
    patches = sorted((PATCH_ROOT / series).glob("*.patch"))
    if not patches:
        raise SortoError(f"{PATCH_ROOT / series}: no patches")
    pkg = _capture(["dpkg-query", "-W", "-f=${Version}", f"linux-source-{series}"])
    gcc = _capture([CROSS + "gcc", "--version"]).splitlines()[0]
    if b"@LIST@" in config:
        config += SCRATCHPAD_LIST.read_bytes()
    key = input_digest(KERNEL_RECIPE, series, pkg, str(tarball.stat().st_size), gcc, config, _files_digest(patches))
    return tarball, patches, key


def _prune_legacy(root: Path, series: str) -> None:
    """Delete kernel trees named before flavours existed (``kernel-<series>-<key>``): 2 GB each."""
    for old in root.glob(f"kernel-{series}-*"):
        rest = old.name[len(f"kernel-{series}-"):]
        if len(rest) == 16 and all(c in "0123456789abcdef" for c in rest) and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def build_kernel(series: str, root: Path, jobs: int, progress: bool, flavour: str) -> Path:
    """Build (or reuse) the patched kernel tree of ``flavour``; return its folder."""
    tarball, patches, key = kernel_inputs(series, flavour)
    final = root / f"kernel-{series}-{flavour}-{key}"
    if _stamp_ok(final):
        _log(progress, f"kernel {series} ({flavour}): cached in {final}")
        return final
    _log(progress, f"kernel {series} ({flavour}): building in {final} (cold: a few minutes)")
    # Built in place (Kbuild keeps absolute paths, so the tree must not move);
    # the "done" stamp is written last, and a folder without it is rebuilt.
    if final.exists():
        shutil.rmtree(final)
    final.mkdir(parents=True)
    log = final / "build.log"
    src = final / "linux"
    src.mkdir()
    _run(["tar", "-xf", str(tarball), "-C", str(src), "--strip-components=1"], log=log)
    for p in patches:
        _run(["patch", "-p1", "--forward", "--batch", "-i", str(p)], cwd=src, log=log)
    config = _flavour_config(flavour)
    if b"@LIST@" in config:
        # A copy inside the kernel's folder: the tree must not depend on where the checkout is.
        shutil.copy2(SCRATCHPAD_LIST, final / "scratchpad.list")
        config = config.replace(b"@LIST@", str(final / "scratchpad.list").encode())
    fragment = final / "sorto.config"
    fragment.write_bytes(config)
    make = ["make", "ARCH=arm", f"CROSS_COMPILE={CROSS}", f"-j{_jobs(jobs)}"]
    _run([*make, "allnoconfig"], cwd=src, log=log, env={"KCONFIG_ALLCONFIG": str(fragment)})
    _check_config(src / ".config", fragment, log)
    targets = ["zImage", "modules"]
    if flavour in MACHINES:
        dtb = MACHINES[flavour][1]
        # 6.5 moved the ARM device trees into vendor folders
        targets.append(f"arm/{dtb}" if (src / "arch/arm/boot/dts/arm").is_dir() else dtb)
    _run([*make, *targets], cwd=src, log=log)
    (final / "done").write_text("ok\n")
    _prune(root, f"kernel-{series}-{flavour}-", final, keep=2)
    _prune_legacy(root, series)
    return final


def _check_config(dot_config: Path, fragment: Path, log: Path) -> None:
    have = dot_config.read_text().splitlines()
    missing = []
    for line in fragment.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        want = f"# {name} is not set" if value == "n" else line
        if want not in have:
            missing.append(line)
    if missing:
        with log.open("a") as fh:
            fh.write("missing config: " + " ".join(missing) + "\n")
        raise SortoError(f"kernel config did not take: {' '.join(missing)} (log: {log})")


def build_module(series: str, kdir: Path, root: Path, progress: bool, flavour: str) -> Path:
    """Build (or reuse) sorto_hook.ko against the kernel tree."""
    sources = [p for p in MODULE_SRC.iterdir() if p.is_file() and p.suffix in {".c", ".h"} or p.name == "Makefile"]
    key = input_digest(kdir.name, _files_digest(sources), "asan-globals=0")
    final = root / f"module-{series}-{flavour}-{key}"
    if _stamp_ok(final):
        return final / "sorto_hook.ko"
    _log(progress, f"module for {series} ({flavour}): building")
    tmp = _fresh(final)
    work = tmp / "src"
    work.mkdir()
    for s in sources:
        shutil.copy2(s, work / s.name)
    tree = kdir / "linux"
    # asan-globals=0: on 32-bit ARM, KASAN leaves the shadow of an unloaded
    # module's instrumented globals poisoned, so the next insmod trips a false
    # "global-out-of-bounds" in load_module()'s memset (seen on 6.12.117).  The
    # unload/reload test needs reloads, so the module's globals get no
    # redzones; its heap and stack accesses stay under KASAN.  CFLAGS_MODULE
    # comes after Kbuild's KASAN flags, so its --param wins.
    _run(["make", "-C", str(tree), f"M={work}", "ARCH=arm", f"CROSS_COMPILE={CROSS}",
          "CFLAGS_MODULE=--param asan-globals=0", "modules"],
         log=tmp / "build.log")
    shutil.copy2(work / "sorto_hook.ko", tmp / "sorto_hook.ko")
    _commit(tmp, final)
    _prune(root, f"module-{series}-{flavour}-", final, keep=2)
    return final / "sorto_hook.ko"


def build_programs(root: Path, progress: bool) -> Path:
    """Cross-compile the guest test programs in every link variant."""
    srcs = sorted([*(HERE / "progs").glob("*.c"), *(HERE / "progs").glob("*.h")])
    gcc = _capture([CROSS + "gcc", "--version"]).splitlines()[0]
    key = input_digest(RECIPE_VERSION, gcc, _files_digest(srcs), repr(sorted(PROGRAMS.items())))
    final = root / f"progs-{key}"
    if _stamp_ok(final):
        return final
    _log(progress, "test programs: building")
    tmp = _fresh(final)
    for name, (src, flags) in PROGRAMS.items():
        _run([CROSS + "gcc", "-O2", "-Wall", "-Wextra", "-Werror", *flags, "-o", str(tmp / name),
              str(HERE / "progs" / src)])
    _commit(tmp, final)
    _prune(root, "progs-", final, keep=4)
    return final


def guest_deb_file(root: Path, package: str, member: str, progress: bool) -> Path:
    """Return ``member`` (a path inside the package) of Debian's ``package``:armhf.

    ``make deps`` downloads the packages into ``<cache>/guest/debs``; a
    missing one is downloaded here.  They are unpacked, never installed.
    """
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*_armhf.deb"))
    if not found:
        _log(progress, f"downloading {package}:armhf")
        _run(["apt-get", "download", f"{package}:armhf"], cwd=debs)
        found = sorted(debs.glob(f"{package}_*_armhf.deb"))
        if not found:
            raise SortoError(f"apt-get download {package}:armhf gave no package (dpkg --add-architecture armhf?)")
    deb = found[-1]
    out = root / f"{package}-{input_digest(deb.name)}"
    if not (out / member).is_file():
        tmp = _fresh(out)
        _run(["dpkg-deb", "-x", str(deb), str(tmp)])
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    if not (out / member).is_file():
        raise SortoError(f"{deb}: has no {member}")
    return out / member


def busybox(root: Path, progress: bool) -> Path:
    """Return the static armhf busybox binary from Debian's busybox-static:armhf."""
    return guest_deb_file(root, "busybox-static", "bin/busybox", progress)


def gen_init_cpio(kdir: Path, root: Path) -> Path:
    """Build the kernel's own gen_init_cpio (no root needed for device nodes)."""
    src = kdir / "linux" / "usr" / "gen_init_cpio.c"
    out = root / f"gen_init_cpio-{input_digest(src.read_bytes())}"
    if not out.is_file():
        tmp = out.with_name(out.name + ".tmp")
        _run(["gcc", "-O2", "-o", str(tmp), str(src)])
        tmp.rename(out)
    return out


def cpio_spec(files: dict[str, Path], dirs: list[str] | None = None) -> str:
    """Return a gen_init_cpio spec that adds ``files`` (guest path -> host path)."""
    lines = []
    seen: set[str] = set()
    for d in dirs or []:
        lines.append(f"dir {d} 0755 0 0")
        seen.add(d)
    for gpath, hpath in sorted(files.items()):
        parent = os.path.dirname(gpath)
        parts = [p for p in parent.split("/") if p]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in seen:
                seen.add(d)
                lines.append(f"dir {d} 0755 0 0")
        mode = "0755" if os.access(hpath, os.X_OK) or gpath == "/init" else "0644"
        lines.append(f"file {gpath} {hpath} {mode} 0 0")
    return "\n".join(lines) + "\n"


def make_cpio(tool: Path, spec: str, out: Path) -> Path:
    """Write a gzip-compressed newc archive from a gen_init_cpio spec."""
    with tempfile.NamedTemporaryFile("w", suffix=".spec", delete=False) as fh:
        fh.write(spec)
        spec_path = fh.name
    try:
        tmp = out.with_name(out.name + ".tmp")
        with tmp.open("wb") as dst:
            p1 = subprocess.Popen([str(tool), spec_path], stdout=subprocess.PIPE)
            p2 = subprocess.run(["gzip", "-9n"], stdin=p1.stdout, stdout=dst, check=False)
            p1.wait()
        if p1.returncode or p2.returncode:
            raise SortoError(f"gen_init_cpio failed for {out}")
        tmp.rename(out)
    finally:
        os.unlink(spec_path)
    return out


def payload_cpio(art: GuestArtifacts, files: dict[str, Path], out: Path) -> Path:
    """Write ``files`` (guest path -> host path) as a cpio to append to ``art.initramfs``."""
    return make_cpio(art.cpio_tool, cpio_spec(files), out)


def build_initramfs(series: str, tool: Path, module: Path, progs: Path, root: Path, progress: bool,
                    flavour: str) -> Path:
    """Assemble the base initramfs: busybox, Debian programs (GUEST_DEB_FILES), glibc, module, programs."""
    bb = busybox(root, progress)
    # strace for `sorto trace` and for tracing a program the way users do;
    # chrt (util-linux, busybox has taskset only) for the hand-tuning baseline
    # of the benchmarks and the demo; cyclictest and hackbench for the demo.
    debs = {gpath: guest_deb_file(root, pkg, member, progress)
            for pkg, member, gpath in [*GUEST_DEB_FILES, *FLAVOUR_DEB_FILES.get(flavour, [])]}
    libs = {f"/lib/{n}": (CROSS_LIBDIR / n).resolve() for n in GUEST_LIBS}
    for p in libs.values():
        if not p.is_file():
            raise SortoError(f"{p}: missing (libc6-armhf-cross)")
    init = HERE / "init.sh"
    files = {"/bin/busybox": bb, "/init": init, "/lib/modules/sorto_hook.ko": module, **debs}
    files.update(libs)
    for p in sorted(progs.iterdir()):
        if p.name != "done":
            files[f"/usr/bin/{p.name}"] = p
    key = input_digest(RECIPE_VERSION, *[f"{g}\0".encode() + h.read_bytes() for g, h in sorted(files.items())])
    final = root / f"initramfs-{series}-{flavour}-{key}.cpio.gz"
    if final.is_file():
        return final
    _log(progress, f"initramfs for {series} ({flavour}): assembling")
    spec = cpio_spec(files, dirs=["/bin", "/dev", "/proc", "/sys", "/tmp", "/lib", "/usr", "/usr/bin"])
    spec += "nod /dev/console 0600 0 0 c 5 1\nslink /bin/sh busybox 0777 0 0\n"
    out = make_cpio(tool, spec, final)
    _prune(root, f"initramfs-{series}-{flavour}-", final, keep=2)
    return out


def base_image_file(art: GuestArtifacts, guest_path: str) -> Path | None:
    """The host file behind ``guest_path`` in the base initramfs, or None (the file to mark for that program)."""
    if guest_path.startswith("/usr/bin/"):
        prog = art.programs / guest_path[len("/usr/bin/"):]
        if prog.is_file():
            return prog
    root = art.cpio_tool.parent
    for pkg, member, gpath in GUEST_DEB_FILES:
        if gpath == guest_path:
            return guest_deb_file(root, pkg, member, False)
    if guest_path == "/bin/busybox":
        return busybox(root, False)
    return None


def kernel_release(kdir: Path) -> str:
    rel = kdir / "linux" / "include" / "config" / "kernel.release"
    return rel.read_text().strip() if rel.is_file() else "unknown"


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the guest cache's lock: one builder at a time per cache, so two checkouts (or a test run
    and a demo) sharing ~/.cache/sorto never build into the same folder."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def guest_programs(cache: str | Path | None = None, progress: bool = False) -> Path:
    """The folder of the cross-compiled guest programs (:data:`PROGRAMS`), built if missing, without a kernel."""
    root = cache_root(cache) / "guest"
    with _locked(root):
        return build_programs(root, progress)


def build_guest(series: str = "6.12", cache: str | Path | None = None, jobs: int = 0,
                progress: bool = True, flavour: str = "release") -> GuestArtifacts:
    """Build or reuse every artifact of the guest for ``series`` and ``flavour``.

    ``cache``: see :func:`cache_root`; ``flavour``: a key of :data:`FLAVOURS`.
    """
    root = cache_root(cache) / "guest"
    with _locked(root):
        kdir = build_kernel(series, root, jobs, progress, flavour)
        module = build_module(series, kdir, root, progress, flavour)
        progs = build_programs(root, progress)
        tool = gen_init_cpio(kdir, root)
        initramfs = build_initramfs(series, tool, module, progs, root, progress, flavour)
    tree = kdir / "linux"
    machine, dtb = MACHINES.get(flavour, ("virt", None))
    return GuestArtifacts(
        kernel_series=series,
        flavour=flavour,
        release=kernel_release(kdir),
        machine=machine,
        dtb=next((tree / "arch" / "arm" / "boot" / "dts").rglob(dtb)) if dtb else None,
        zimage=tree / "arch" / "arm" / "boot" / "zImage",
        system_map=tree / "System.map",
        kernel_tree=tree,
        module=module,
        initramfs=initramfs,
        programs=progs,
        cpio_tool=tool,
    )


def relink_scratchpad(art: GuestArtifacts, listed: Path, workdir: Path, size: int = 0x10000,
                      jobs: int = 0) -> GuestArtifacts:
    """The scratchpad guest's kernel relinked with another list, in a copy under ``workdir``.

    Why a relink and not a build: the scratchpad flavour compiles every
    object with -ffunction-sections, so another list changes only the linker
    script and the scratchpad's own object (the Yocto recipe's
    do_sorto_scratchpad relies on the same).  A list chosen from a
    measurement would otherwise cost a cold kernel build and 2 GB of cache
    per run.  The copy is made once (``workdir/linux``) and relinked on
    each call; the module and initramfs of ``art`` still fit it.  The
    kernel's post-link check runs as in any build: a list it refuses raises
    SortoError with the check's words.
    """
    if art.flavour != "scratchpad":
        raise SortoError(f"relink_scratchpad needs the scratchpad flavour, not {art.flavour!r}")
    tree = workdir / "linux"
    if not tree.is_dir():
        workdir.mkdir(parents=True, exist_ok=True)
        _run(["cp", "-a", str(art.kernel_tree), str(tree)])
    make = ["make", "-C", str(tree), "ARCH=arm", f"CROSS_COMPILE={CROSS}", f"-j{_jobs(jobs)}"]
    _run([str(tree / "scripts" / "config"), "--file", str(tree / ".config"),
          "--set-str", "ARM_SCRATCHPAD_FUNCTIONS", str(Path(listed).resolve()),
          "--set-val", "ARM_SCRATCHPAD_SIZE", hex(size)])
    log = workdir / "relink.log"
    _run([*make, "olddefconfig"], log=log)
    proc = subprocess.run([*make, "zImage"], capture_output=True, text=True)
    with open(log, "a") as fh:
        fh.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        said = [ln for ln in proc.stderr.splitlines() if str(listed) in ln or "scratchpad" in ln]
        raise SortoError(f"{listed}: the kernel did not link with this list ({log}):\n" + "\n".join(said[-20:]))
    return dataclasses.replace(art, zimage=tree / "arch" / "arm" / "boot" / "zImage", system_map=tree / "System.map",
                               kernel_tree=tree)
