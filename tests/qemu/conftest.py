"""Fixtures for the QEMU tests: the cached guest, a per-session payload, booted guests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sorto import codec, elfsection, policy
from sorto.guest import build
from sorto.guest.harness import Guest

from .. import hostile_elf
from ..conftest import EVERY_FIELD

DEMO = EVERY_FIELD
VARIANTS = ["hello-static", "hello-dyn-pie", "hello-dyn-nopie"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/qemu/" in str(item.fspath):
            item.add_marker(pytest.mark.qemu)
            # The per-kernel xdist group is set with the kernel parameter
            # (tests/conftest.py): added here, it came after xdist had read
            # the groups, and each worker booted every kernel's guests.


def cap_record() -> bytes:
    """A valid record of exactly the 4096-byte cap."""
    raw = {
        "version": 1,
        "scratchpad": [{"function": f"f{i:02d}" + "x" * 60, "weight": i} for i in range(32)],
        "irq_defer": [{"name": f"i{i:02d}" + "y" * 60} for i in range(16)],
        "mlock": [{"region": "file", "name": f"m{i:02d}" + "z" * 60} for i in range(7)]
        + [{"region": "file", "name": "n" * 16}],
    }
    rec = codec.encode(policy.normalize(raw))
    assert len(rec) == 4096, len(rec)
    return rec


@pytest.fixture(scope="session")
def guest_art(kernel: str, pytestconfig: pytest.Config):
    """The debug guest (KASAN, lockdep): the kernel-path and attack tests run on it.

    ``--guest-flavour scratchpad`` runs the same tests on the vexpress-a15 guest with its block in SRAM.
    """
    return build.build_guest(kernel, progress=True, flavour=pytestconfig.getoption("--guest-flavour"))


def guest_append(art, append: str = "") -> str:
    """Kernel parameters for ``art``: the scratchpad guest's block goes to the SRAM."""
    return f"{append} {build.SCRATCHPAD_PARAM}".strip() if art.flavour == "scratchpad" else append


@pytest.fixture(scope="session")
def scratch_art(kernel: str):
    """The scratchpad guest: -M vexpress-a15, scratchpad.list linked into one block."""
    return build.build_guest(kernel, progress=True, flavour="scratchpad")


@pytest.fixture(scope="session")
def release_art(kernel: str):
    """The release guest: what `sorto trace`, `make demo` and the benchmarks boot."""
    return build.build_guest(kernel, progress=True, flavour="release")


@pytest.fixture(scope="session")
def payload(guest_art, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Test files for the guest under /t, as a cpio appended to the base initramfs."""
    d = tmp_path_factory.mktemp(f"payload-{guest_art.kernel_series}")
    files: dict[str, Path] = {}
    shown: dict[str, dict] = {}

    def mark(plain: Path, meta: Path, guest_path: str) -> None:
        """Inject the demo policy with the sorto command; keep what `sorto show --json` says of it."""
        subprocess.run([sys.executable, "-m", "sorto", "inject", str(plain), "--policy", str(DEMO),
                        "-o", str(meta), "-q"], check=True)
        files[guest_path] = meta
        out = subprocess.run([sys.executable, "-m", "sorto", "show", "--json", str(meta)],
                             capture_output=True, text=True, check=True).stdout
        shown[guest_path] = json.loads(out)

    for v in VARIANTS:
        plain = d / f"plain-{v}"
        shutil.copy2(guest_art.programs / v, plain)
        files[f"/t/plain/{v}"] = plain
        mark(plain, d / f"meta-{v}", f"/t/meta/{v}")
    # A marked program whose section header table lies 4 MiB into the file (a padding section
    # before the hook section), far past the readahead of its first pages: on the guest's ext2 loop
    # mount, with the page cache dropped, the lookup must read the tail with kernel_read().
    pad = d / "pad.bin"
    pad.write_bytes(bytes(4 << 20))
    big_plain = d / "big-plain-hello-static"
    subprocess.run([*elfsection.find_objcopy(d / "plain-hello-static"), "--add-section", f".sorto_test_pad={pad}",
                    str(d / "plain-hello-static"), str(big_plain)], check=True)
    mark(big_plain, d / "big-hello-static", "/t/big/hello-static")
    base = (d / "meta-hello-static").read_bytes()
    record = elfsection.read_section(d / "meta-hello-static")
    cases = hostile_elf.generate(base, record, cap_record())
    for c in cases:
        p = d / f"hostile-{c.name}"
        p.write_bytes(c.data)
        p.chmod(0o755)
        files[f"/t/hostile/{c.name}"] = p
    cpio = build.payload_cpio(guest_art, files, d / "payload.cpio.gz")
    return {"cpio": cpio, "shown": shown, "cases": cases, "dir": d}


def boot(guest_art, payload: dict, log: Path, append: str = "", **kw) -> Guest:
    g = Guest(guest_art.zimage, [guest_art.initramfs, payload["cpio"]], log, append=guest_append(guest_art, append),
              machine=guest_art.machine, dtb=guest_art.dtb, **kw)
    return g


@pytest.fixture(scope="session")
def guest(guest_art, payload, tmp_path_factory) -> Iterator[Guest]:
    """A booted guest with sorto_hook loaded, shared by the tests of one kernel."""
    log = tmp_path_factory.mktemp("console") / f"console-{guest_art.kernel_series}.log"
    g = boot(guest_art, payload, log)
    try:
        g.check("insmod /lib/modules/sorto_hook.ko")
        yield g
        problems = g.kernel_problems()
        assert not problems, "kernel reported problems:\n" + "\n".join(problems) + "\n" + g.tail()
    finally:
        g.close()
