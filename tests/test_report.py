"""``sorto report``: one self-contained HTML file; the sections, the embedded charts, --compare, atomic output."""

from __future__ import annotations

import base64
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sorto.cli import main

DATA = Path(__file__).parent / "data"
GUEST = DATA / "guest"
SECTIONS = ("syscalls", "functions", "timeline", "latency")


class Page(HTMLParser):
    """Collect sections (with their text and images) and every link-like attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, list[str]]] = {}
        self.current: str | None = None
        self.urls: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in ("meta", "img", "br", "hr", "link", "input"):
            self.stack.append(tag)
        if tag == "section":
            self.current = a["id"]
            self.sections[self.current] = {"text": [], "img": []}
        for key in ("src", "href"):
            if a.get(key):
                self.urls.append(a[key] or "")
        if tag == "img" and self.current:
            self.sections[self.current]["img"].append(a["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()
        if tag == "section":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.current and data.strip():
            self.sections[self.current]["text"].append(data.strip())


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    assert p.stack == []
    return p


def png(uri: str) -> bytes:
    head, _, b64 = uri.partition(",")
    assert head == "data:image/png;base64"
    raw = base64.b64decode(b64, validate=True)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return raw


@pytest.fixture(scope="module")
def guest_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("r") / "report.html"
    assert main(["report", str(GUEST), "-o", str(out), "-q"]) == 0
    return out


def test_sections_and_embedded_charts(guest_report: Path) -> None:
    page = parse(guest_report)
    assert set(page.sections) == set(SECTIONS)
    for name in SECTIONS:
        imgs = page.sections[name]["img"]
        assert len(imgs) == 1, name
        assert len(png(imgs[0])) > 1000
    assert all(u.startswith("data:image/png;base64,") for u in page.urls)  # nothing external
    text = " ".join(page.sections["functions"]["text"])
    assert text.index("sys_getppid") < text.index("__task_pid_nr_ns")
    # no strace in the guest: the syscalls come from the profile's sys_* entries, and it says so
    sc = " ".join(page.sections["syscalls"]["text"])
    assert "sys_getppid" in sc and "no strace -c summary" in sc
    tl = " ".join(page.sections["timeline"]["text"])
    assert "irq arch_timer" in tl


def test_compare_shows_both_side_by_side(tmp_path: Path) -> None:
    other = tmp_path / "host"
    other.mkdir()
    shutil.copy(DATA / "ftrace" / "events.txt", other / "events.txt")
    shutil.copy(DATA / "strace" / "c.txt", other / "c.txt")
    out = tmp_path / "cmp.html"
    assert main(["report", str(GUEST), "--compare", str(other), "-o", str(out), "-q"]) == 0
    page = parse(out)
    for name in SECTIONS:
        text = " ".join(page.sections[name]["text"])
        assert "guest" in text and "host" in text, name
    # the host capture has no function log and the application is unknown there: said, not drawn
    assert "Missing: no ftrace_function_profile or ftrace_function log" in " ".join(page.sections["functions"]["text"])
    assert "Missing:" in " ".join(page.sections["latency"]["text"])
    assert len(page.sections["functions"]["img"]) == 1
    # strace -c of the host: the top syscall by seconds, as printed in c.txt
    rows = [ln.split() for ln in (DATA / "strace" / "c.txt").read_text().splitlines()]
    body = [r for r in rows if len(r) >= 5 and r[0][0].isdigit() and r[-1] != "total"]
    top = max(body, key=lambda r: float(r[1]))[-1]
    assert top in " ".join(page.sections["syscalls"]["text"])
    assert len(page.sections["syscalls"]["img"]) == 2
    for u in page.urls:
        png(u)


def test_report_is_atomic_and_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    out.write_text("old")
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "-o", str(out)]) == 2
    assert "empty folder" in capsys.readouterr().err
    assert out.read_text() == "old"
    assert main(["report", str(GUEST), "--compare", str(tmp_path / "missing"), "-o", str(out)]) == 2
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "r.html"]
