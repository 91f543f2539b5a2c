"""Policy files: schema validation with file, line and field in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorto import policy
from sorto.errors import SortoError

from .conftest import EVERY_FIELD


def test_demo_policy_is_valid() -> None:
    p = policy.load(EVERY_FIELD)
    assert p["sched"]["policy"] == "fifo"
    assert "evidence" not in p


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("version: 1\nsched:\n  policy: fifo\n  priority: 500\n", ":4: invalid policy field 'sched.priority'"),
        ("version: 1\nmlock:\n  - region: text\n  - region: bogus\n", ":4: invalid policy field 'mlock[1].region'"),
        ("version: 1\nmlock:\n  - region: file\n", ":3: invalid policy field 'mlock[0]'"),
        ("version: 2\n", ":1: invalid policy field 'version'"),
        ("version: 1\nscratchpad:\n  - function: 'a b'\n    weight: 1\n", "'scratchpad[0].function'"),
        ("version: 1\nirq_defer:\n  - {irq: 3, name: x}\n", "'irq_defer[0]'"),
        ("version: 1\nextra: 3\n", "(top level)"),
        ("version: [\n", "not valid YAML or JSON"),
        ("- 1\n", "a policy must be a mapping"),
    ],
)
def test_invalid_policies_name_file_line_and_field(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(SortoError) as exc:
        policy.load(f)
    msg = str(exc.value)
    assert msg.startswith(str(f))
    assert needle in msg


def test_json_policy(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text('{"version": 1, "sched": {"policy": "rr", "priority": 5, "cpus": [1, 0]}}')
    assert policy.load(f)["sched"] == {"policy": "rr", "priority": 5, "cpus": [0, 1]}
