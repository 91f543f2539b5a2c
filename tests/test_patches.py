"""The kernel patch series: format, provenance lines and checkpatch --strict.

checkpatch.pl comes from Debian's linux-source-6.12 tree the guest build
unpacks, and is applied to every series.  The 6.12 and 6.1 series are
applied with patch -p1 by every guest build, and the QEMU tests boot the
result; 4.14, 6.6 (scarthgap's linux-yocto) and 6.18 (wrynose's) were
applied, built and booted by hand on fetched trees (see docs/yocto.md).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sorto.guest import build

from .conftest import REPO

SERIES = ["6.18", "6.12", "6.6", "6.1", "4.14"]
MODULE_FILES = REPO / "meta-sorto" / "recipes-kernel" / "sorto-hook" / "files"


def patches(series: str) -> list[Path]:
    found = sorted((REPO / "kernel-patches" / series).glob("*.patch"))
    assert found, f"kernel-patches/{series} is empty"
    return found


@pytest.fixture(scope="session")
def checkpatch() -> Path:
    art = build.build_guest("6.12", progress=True)
    return art.kernel_tree / "scripts" / "checkpatch.pl"


@pytest.mark.parametrize("series", SERIES)
def test_series_format(series: str) -> None:
    subjects = []
    for p in patches(series):
        text = p.read_text()
        assert re.match(r"From [0-9a-f]{40} ", text), f"{p.name}: not git format-patch output"
        m = re.search(r"^Subject: \[PATCH(?: \d+/\d+)?\] (.+)$", text, re.M)
        assert m, f"{p.name}: no Subject"
        subjects.append(m.group(1))
        head = text.split("\n---\n", 1)[0]
        assert re.search(r"^Upstream-Status: \S+", head, re.M), f"{p.name}: no Upstream-Status"
        assert re.search(r"^Signed-off-by: .+ <.+@.+>$", head, re.M), f"{p.name}: no Signed-off-by"
        body = head.split("\n\n", 1)[1]
        assert len(body.split()) > 30, f"{p.name}: the description does not say why"
    # Each patch names the subsystem it touches, as upstream subjects do.
    assert all(re.match(r"(binfmt_elf|mm/mlock|ARM): ", s) for s in subjects), subjects


def test_series_agree_on_subjects() -> None:
    def subjects(series: str) -> list[str]:
        # The whole header, unfolded: git wraps long subjects where its version likes.
        found = [re.search(r"^Subject: (.+\n(?:[ \t].*\n)*)", p.read_text(), re.M).group(1) for p in patches(series)]
        return [" ".join(s.split()) for s in found]

    for series in SERIES[1:]:
        assert subjects(series) == subjects(SERIES[0]), series


@pytest.mark.parametrize("series", SERIES)
def test_checkpatch_strict(checkpatch: Path, series: str) -> None:
    for p in patches(series):
        r = subprocess.run(["perl", str(checkpatch), "--strict", "--no-tree", "--no-signoff", str(p)],
                           capture_output=True, text=True, check=False)
        out = r.stdout + r.stderr
        m = re.search(r"total: (\d+) errors, (\d+) warnings, (\d+) checks", out)
        assert m, out
        errors, warnings, checks = map(int, m.groups())
        # Accepted findings: new files make checkpatch ask about MAINTAINERS, and
        # it reads the wildcards of linker scripts as C operators (it says the
        # same of include/asm-generic/vmlinux.lds.h's own *(.text.hot.*) lines).
        allowed = len(re.findall(r"does MAINTAINERS need updating", out))
        lds = len(re.findall(r"^CHECK: spaces preferred around that '\*' \(ctx:\w+\)\n#\d+: FILE: \S+\.lds\.[hS]:",
                             out, re.M))
        # 6.12's checkpatch.pl asks for kmap_local_page(), which arrived in 5.11: 4.14's patch 1 maps a
        # page-cache page with kmap_atomic(), what 4.14 has.
        if series == "4.14":
            allowed += len(re.findall(r"Deprecated use of 'k(un)?map_atomic', prefer", out))
        assert (errors, warnings - allowed, checks - lds) == (0, 0, 0), f"{p.name}:\n{out}"


def test_checkpatch_module_sources(checkpatch: Path) -> None:
    for src in sorted(MODULE_FILES.glob("*.[ch]")):
        if src.name == "sorto_format.h":
            continue  # generated; checked against its generator instead
        r = subprocess.run(["perl", str(checkpatch), "--strict", "--no-tree", "-f", str(src)],
                           capture_output=True, text=True, check=False)
        m = re.search(r"total: (\d+) errors, (\d+) warnings, (\d+) checks", r.stdout)
        assert m, r.stdout
        errors, warnings, checks = map(int, m.groups())
        # An out-of-tree module built for 4.14 and 6.x must test the kernel
        # version somewhere; sorto_kcompat.h is the one file allowed to.
        allowed = len(re.findall(r"LINUX_VERSION_CODE should be avoided", r.stdout))
        if src.name != "sorto_kcompat.h":
            allowed = 0
        assert (errors, warnings - allowed, checks) == (0, 0, 0), f"{src.name}:\n{r.stdout}"
