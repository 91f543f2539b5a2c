"""``sorto analyze`` ranks scratchpad candidates by the kfetch plugin's fetch counts when a table is there.

The fixture ``tests/data/guest-kfetch/kfetch.csv`` is the table of a real
plugin run (``python -m sorto.plugins.kfetch``, tests/data/README.md): the
getppid hammer on the release 6.12 guest, with that kernel's System.map.
Expected values are recounted from the CSV by plain splitting.
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest

from sorto.analyze import DEFAULT_EXCLUDE, Options, analyze
from sorto.errors import SortoError
from sorto.parse import detect

DATA = Path(__file__).parent / "data"
KFETCH = DATA / "guest-kfetch"
TABLE = KFETCH / "kfetch.csv"
GUEST = DATA / "guest"


def recount() -> dict[str, int]:
    lines = TABLE.read_text().splitlines()
    assert lines[0] == "function,fetches,share"
    return {name: int(n) for name, n, _share in (ln.split(",") for ln in lines[1:])}


def test_table_is_detected_and_matches_its_kernel() -> None:
    assert detect.detect(TABLE) == "qemu_kfetch"
    names = {ln.split()[2] for ln in gzip.decompress((KFETCH / "System.map.gz").read_bytes()).decode().splitlines()}
    fetches = recount()
    unknown = [f for f in fetches if f not in names and not f.startswith("[")]
    assert unknown == []
    # 20000 getppid calls and nothing else calls sys_getppid: a whole number of fetches per call.
    assert fetches["sys_getppid"] % 20000 == 0 and fetches["__task_pid_nr_ns"] >= 20000


def test_fetch_counts_rank_the_candidates() -> None:
    fetches = recount()
    total = sum(fetches.values())
    skip = re.compile(DEFAULT_EXCLUDE)
    order = sorted((f for f in fetches if not skip.fullmatch(f)), key=lambda f: (-fetches[f], f))
    pol = analyze(KFETCH).policy
    ev = pol["evidence"]["scratchpad"]
    assert ev["data"] == {"files": ["kfetch.csv"], "metric": "fetches", "functions": len(fetches)}
    assert ev["share_denominator"] == total
    ranking = ev["ranking"]
    assert [r["function"] for r in ranking] == order[:len(ranking)]
    placed = pol["scratchpad"]
    assert placed[0]["function"] == order[0] == "__task_pid_nr_ns"
    assert placed[0]["weight"] == round(fetches["__task_pid_nr_ns"] / total * 1e6)
    assert "sys_getppid" in [e["function"] for e in placed]
    # the bracketed vector page has no symbol: ranked, never placed
    assert all(not e["function"].startswith("[") for e in placed)


def test_fetch_table_is_preferred_over_the_function_profile(tmp_path: Path) -> None:
    d = tmp_path / "t"
    shutil.copytree(GUEST, d)
    only_profile = analyze(d).policy
    assert only_profile["evidence"]["scratchpad"]["data"]["metric"] == "time_us"
    assert only_profile["scratchpad"][0]["function"] == "sys_getppid"
    shutil.copy2(TABLE, d / "kfetch.csv")
    both = analyze(d, Options(system_map=str(KFETCH / "System.map.gz"))).policy
    assert both["evidence"]["scratchpad"]["data"]["metric"] == "fetches"
    assert both["evidence"]["scratchpad"]["data"]["files"] == ["kfetch.csv"]
    assert both["scratchpad"][0]["function"] == "__task_pid_nr_ns"


def test_malformed_row_names_file_and_line(tmp_path: Path) -> None:
    d = tmp_path / "t"
    d.mkdir()
    lines = TABLE.read_text().splitlines()
    lines[3] = "vector_swi,many,0.1"
    (d / "kfetch.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SortoError, match=r"kfetch.csv:4: malformed line"):
        analyze(d)
