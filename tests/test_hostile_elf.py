"""The hostile ELF corpus itself, on the host: each case is what it says it is.

The QEMU tests run the corpus against the kernel (tests/qemu/test_kernel_path.py);
here every case with a determined status is held to hostile_elf.kernel_lookup(),
a Python reference of the kernel's lookup, and the cases aimed at the tail
buffer are checked to take the path they name, so a change to the corpus or
to the buffer's size cannot quietly turn them into cases of something else.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from sorto import elfsection
from sorto.guest import build

from . import hostile_elf
from .conftest import CROSS_GCC, EVERY_FIELD, need
from .qemu.conftest import cap_record


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """hello-static as the guest build makes it, with the every-field policy injected (as the QEMU payload)."""
    need(CROSS_GCC)
    d = tmp_path_factory.mktemp("hostile")
    plain = d / "hello-static"
    subprocess.run([CROSS_GCC, "-O2", "-static", "-no-pie", "-o", str(plain),
                    str(build.HERE / "progs" / "hello.c")], check=True)
    meta = d / "meta-hello-static"
    subprocess.run([sys.executable, "-m", "sorto", "inject", str(plain), "--policy", str(EVERY_FIELD),
                    "-o", str(meta), "-q"], check=True)
    return meta.read_bytes(), elfsection.read_section(meta)


def test_reference_agrees_with_every_determined_case(base) -> None:
    data, record = base
    assert hostile_elf.kernel_lookup(data) == ("found", "tail"), "the common layout must take the one-read path"
    cases = hostile_elf.generate(data, record, cap_record())
    assert len({c.name for c in cases}) == len(cases)
    wrong = [(c.name, c.kernel, hostile_elf.kernel_lookup(c.data)[0]) for c in cases
             if c.kernel is not None and c.runs and hostile_elf.kernel_lookup(c.data)[0] != c.kernel]
    assert not wrong, wrong


def test_tail_cases_take_the_path_they_name(base) -> None:
    data, _ = base
    cases = hostile_elf._tail_cases(hostile_elf.Elf32(data))
    paths = {}
    for name, e, status, path in cases:
        paths[name] = hostile_elf.kernel_lookup(e.bytes())
        assert paths[name] == (status, path), (name, paths[name])
    # every path of the lookup is exercised, at both edges of the buffer
    assert {p for _, p in paths.values()} >= {"tail", "tail+strtab", "alloc"}
    odd = hostile_elf.Elf32(next(e for n, e, *_ in cases if n == "tail-table-odd-offset").bytes())
    assert odd.shoff % 2 == 1
    at_cap = hostile_elf.Elf32(next(e for n, e, *_ in cases if n == "tail-table-at-cap").bytes())
    assert at_cap.shnum * hostile_elf.SHDR_SIZE <= hostile_elf.TAIL_SIZE < (at_cap.shnum + 1) * hostile_elf.SHDR_SIZE
