"""The plugin builder's failure message, and the report reader on the fixture's kernel map."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sorto.errors import SortoError
from sorto.plugins import build, kfetch

MAP_GZ = Path(__file__).parent / "data" / "guest-kfetch" / "System.map.gz"


def test_header_that_cannot_be_fetched_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "qemu_source", lambda: ("qemu", "1:0.0-no-such-version"))
    with pytest.raises(SortoError, match=r"cannot get the QEMU plugin header.*deb-src.*make deps") as exc:
        build.plugin_header(tmp_path)
    assert "qemu=1:0.0-no-such-version" in str(exc.value)
    assert not list(tmp_path.iterdir())  # nothing half-made is left to be taken for a header


def test_cut_report_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "kfetch.txt.mark2"
    p.write_text("# kfetch window ending at mark 2\nkernel_insns 10\nuser_insns 3\nblock 0xc0100000 2 8 5 0x0\n")
    with pytest.raises(SortoError, match="without its end line"):
        kfetch.parse_report(p)
    p.write_text(p.read_text() + "end\n")
    rep = kfetch.parse_report(p)
    assert (rep.kernel_insns, rep.user_insns, rep.blocks) == (10, 3, [(0xC0100000, 2, 8, 5, 0)])


def test_symbols_skip_section_marks(tmp_path: Path) -> None:
    sysmap = tmp_path / "System.map"
    sysmap.write_bytes(gzip.decompress(MAP_GZ.read_bytes()))
    m = kfetch.SystemMap(sysmap)
    # ret_fast_syscall shares its address with __entry_text_start and __idmap_text_end
    assert m.function_at(m.addr["ret_fast_syscall"]) in ("__ret_fast_syscall", "ret_fast_syscall")
    assert m.function_at(m.addr["sys_getppid"] + 4) == "sys_getppid"
    assert m.function_at(0xFFFF0008) == "[vectors]" and m.function_at(0xFFFF1040) == "[vector stubs]"
    assert m.function_at(0xBF000100) == "[modules]"
