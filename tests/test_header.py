"""The committed C header equals what the generator makes from sorto.format."""

from __future__ import annotations

from sorto import format as F
from sorto import genheader

from .conftest import REPO


def test_committed_header_is_current() -> None:
    committed = (REPO / genheader.HEADER_PATH).read_text()
    assert committed == genheader.render(), "run: sorto genheader (from the repository root)"


def test_header_carries_the_constants() -> None:
    text = genheader.render()
    assert f'#define SORTO_SECTION_NAME "{F.SECTION_NAME}"' in text
    assert f"#define SORTO_MAX_RECORD {F.MAX_RECORD}" in text
    for code, name in F.ERROR_NAMES.items():
        assert f"#define SORTO_E_{name} {code}\t" in text
    for name, value in F.MLOCK_REGIONS.items():
        assert f"#define SORTO_REGION_{name.upper()} {value}\n" in text
