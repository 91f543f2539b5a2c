"""Policy files: schema validation with file, line and field in the message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- the built-in validator against jsonschema --------------------------------
#
# sorto validates policies with sorto.schemacheck so that `sorto inject` needs
# no jsonschema (and no Rust) in Buildroot's host tools; these tests hold it to
# jsonschema's verdicts and messages on generated documents.

NAMES = st.sampled_from(["sys_getppid", "virtio0", "a" * 63, "a" * 64, "x y", "", "eth0:rx", "f\n"])
INTS = st.one_of(st.integers(-25, 300), st.sampled_from([4294967295, 4294967296, 1000001]), st.just(5.0),
                 st.just(2.5))
VALID_MLOCK = st.one_of(
    st.fixed_dictionaries({"region": st.sampled_from(["text", "data", "heap", "stack", "all"])},
                          optional={"max_bytes": st.integers(0, 2**32 - 1)}),
    st.fixed_dictionaries({"region": st.just("file"), "name": st.just("libc.so.6")},
                          optional={"max_bytes": st.integers(0, 2**32 - 1)}))
VALID_POLICY = st.fixed_dictionaries(
    {"version": st.just(1)},
    optional={
        "profile": st.fixed_dictionaries({}, optional={
            "status": st.sampled_from(["manual", "profiled", "unprofiled"]), "source": st.just("meta-sorto"),
            "trace_sha256": st.just("0" * 64), "duration_ms": st.integers(0, 10**6)}),
        "mlock": st.lists(VALID_MLOCK, max_size=3),
        "sched": st.fixed_dictionaries({"policy": st.sampled_from(["other", "fifo", "rr", "batch", "idle"])},
                                       optional={"priority": st.integers(0, 99), "nice": st.integers(-20, 19),
                                                 "cpus": st.lists(st.integers(0, 255), max_size=3, unique=True)}),
        "irq_defer": st.lists(st.one_of(st.fixed_dictionaries({"irq": st.integers(0, 64)},
                                                              optional={"away": st.booleans()}),
                                        st.fixed_dictionaries({"name": st.just("virtio0")},
                                                              optional={"away": st.booleans()})), max_size=3),
        "scratchpad": st.lists(st.fixed_dictionaries({"function": st.just("sys_getppid"),
                                                      "weight": st.integers(0, 10**6)}), max_size=3),
        "evidence": st.just({"n": 1}),
    })
KEYS = st.sampled_from(["version", "profile", "status", "region", "name", "max_bytes", "policy", "priority", "nice",
                        "cpus", "irq", "away", "function", "weight", "extra"])
JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), INTS, NAMES, st.sampled_from(["file", "fifo", "manual", "text"])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)


def _paths(node: object, here: tuple = ()) -> list[tuple]:
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, here + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, here + (i,))
    return out


def _mutate(doc: dict, data: st.DataObject) -> dict:
    """Replace, drop or add one value somewhere in ``doc`` (a deep copy)."""
    doc = json.loads(json.dumps(doc))
    where = data.draw(st.sampled_from(_paths(doc)[1:] or [()]))
    if not where:
        doc[data.draw(KEYS)] = data.draw(JUNK)
        return doc
    parent = doc
    for part in where[:-1]:
        parent = parent[part]
    action = data.draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace" or (action == "drop" and isinstance(parent, list)):
        parent[where[-1]] = data.draw(JUNK)
    elif action == "drop":
        del parent[where[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(KEYS)] = data.draw(JUNK)
    else:
        parent.append(data.draw(JUNK))
    return doc


def _jsonschema_verdict(data: object) -> tuple[list, str] | None:
    import jsonschema

    sch = policy.schema()
    validator = jsonschema.validators.validator_for(sch)(sch)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return None
    err = jsonschema.exceptions.best_match(errors)
    return list(err.absolute_path), err.message


def _builtin_verdict(data: object) -> tuple[list, str] | None:
    from sorto import schemacheck

    err = schemacheck.best_match(list(schemacheck.Validator(policy.schema()).iter_errors(data)))
    return None if err is None else (list(err.absolute_path), err.message)


@settings(max_examples=400, deadline=None)
@given(base=VALID_POLICY, data=st.data())
def test_builtin_validator_agrees_with_jsonschema(base: dict, data: st.DataObject) -> None:
    """Valid policies pass both; one to three mutations give the same field and message from both."""
    assert _builtin_verdict(base) is None and _jsonschema_verdict(base) is None, base
    doc = base
    for _ in range(data.draw(st.integers(1, 3))):
        doc = _mutate(doc, data)
    assert _builtin_verdict(doc) == _jsonschema_verdict(doc), doc


@pytest.mark.parametrize("doc", [
    {"version": 1, "sched": {"policy": "fifo", "priority": 500}},
    {"version": 1, "irq_defer": [{"irq": 3, "name": "x"}]},
    {"version": 1, "irq_defer": [{"away": True}]},
    {"version": 1, "mlock": [{"region": "text", "name": "x"}]},
    {"version": 1, "sched": {"policy": "rr", "cpus": [1, 1]}},
    {"version": True},
    {"extra": 1, "other": 2},
    {"version": 1, "mlock": [{"region": "text"}] * 17},
])
def test_builtin_validator_messages(doc: dict) -> None:
    """Hand-picked cases of each keyword: jsonschema's exact message and field."""
    assert _builtin_verdict(doc) is not None
    assert _builtin_verdict(doc) == _jsonschema_verdict(doc)


def test_schemacheck_refuses_unknown_keywords() -> None:
    """A schema keyword it does not implement is an error, never silently skipped."""
    from sorto import schemacheck

    with pytest.raises(schemacheck.SchemaError, match="minLength"):
        schemacheck.Validator({"properties": {"a": {"type": "string", "minLength": 2}}})


def test_inject_show_verify_need_neither_jsonschema_nor_jinja2(arm_hello: Path, tmp_path: Path) -> None:
    """What Buildroot's host-python-sorto installs (pyelftools, PyYAML) is enough for inject, show and verify."""
    import subprocess
    import sys

    out = tmp_path / "hello"
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsched:\n  policy: fifo\n  priority: 500\n")
    code = (
        "import sys\n"
        "for m in ('jsonschema', 'jinja2', 'rpds', 'referencing'):\n"
        "    sys.modules[m] = None  # any import of them raises ImportError\n"
        "from sorto.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    run = [sys.executable, "-c", code]
    inject = subprocess.run([*run, "inject", str(arm_hello), "--policy", str(EVERY_FIELD),
                             "-o", str(out)], capture_output=True, text=True)
    assert inject.returncode == 0, inject.stderr
    show = subprocess.run([*run, "show", "--json", str(out)], capture_output=True, text=True)
    assert show.returncode == 0 and json.loads(show.stdout)["sched"]["policy"] == "fifo", show.stderr
    assert subprocess.run([*run, "verify", str(out)], capture_output=True).returncode == 0
    refused = subprocess.run([*run, "inject", str(arm_hello), "--policy", str(bad), "-o", str(tmp_path / "x")],
                             capture_output=True, text=True)
    assert refused.returncode == 2
    assert f"{bad}:4: invalid policy field 'sched.priority': 500 is greater than the maximum of 99" in refused.stderr
