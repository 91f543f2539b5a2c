"""The C decoder shared with the kernel module agrees with the Python reference.

The host harness is compiled from the very files the module compiles
(meta-sorto/recipes-kernel/sorto-hook/files/sorto_decode.c) with ASan and
UBSan; the same bytes go through both decoders and the outputs must be
identical, byte for byte, for valid records and for every error code.
"""

from __future__ import annotations

import json
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings

from sorto import codec, policy
from sorto.errors import DecodeError

from .conftest import EVERY_FIELD, REPO, need
from .hostile_elf import reseal
from .test_codec import policies

CDIR = REPO / "tests" / "c"


@pytest.fixture(scope="session")
def cbuild(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("gcc")
    out = tmp_path_factory.mktemp("cbuild")
    subprocess.run(["make", "-s", "-C", str(CDIR), f"O={out}"], check=True)
    return out


def python_view(data: bytes) -> str:
    try:
        return json.dumps(codec.decode(data), sort_keys=True)
    except DecodeError as exc:
        return f"error {exc.code} {exc}"


def c_view(cbuild: Path, data: bytes) -> str:
    r = subprocess.run([str(cbuild / "sorto-decode")], input=data, capture_output=True, check=False)
    assert r.returncode in (0, 1), r.stderr.decode()
    assert not r.stderr, r.stderr.decode()  # sanitizers report on stderr
    return r.stdout.decode().strip()


def corpus() -> list[bytes]:
    """Valid records and systematic mutations of them, with and without a fixed CRC."""
    demo = codec.encode(policy.load(EVERY_FIELD))
    small = codec.encode(policy.normalize({"version": 1, "sched": {"policy": "rr", "priority": 3, "cpus": [9]}}))
    empty = codec.encode(policy.normalize({"version": 1}))
    out = [demo, small, empty]
    rng = random.Random(1234)
    for base in (demo, small):
        for i in range(len(base)):
            b = bytearray(base)
            b[i] ^= 0xFF
            out.append(bytes(b))  # CRC now wrong: the header checks come first
            for val in (0x00, base[i] ^ 0x01, base[i] ^ 0x80):
                b = bytearray(base)
                b[i] = val
                out.append(reseal(b))
        for cut in range(0, len(base), 3):
            out.append(base[:cut])
        for _ in range(100):
            b = bytearray(base)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            out.append(reseal(b))
    return out


def test_c_and_python_agree_on_corpus(cbuild: Path, tmp_path: Path) -> None:
    records = list(dict.fromkeys(corpus()))
    assert len(records) > 1400
    with ThreadPoolExecutor(max_workers=4) as pool:
        c_out = list(pool.map(lambda r: c_view(cbuild, r), records))
    mismatches = []
    codes = set()
    for i, (r, c) in enumerate(zip(records, c_out)):
        py = python_view(r)
        if py.startswith("error"):
            codes.add(int(py.split()[1]))
        if c != py:
            (tmp_path / f"mismatch-{i:05d}").write_bytes(r)
            mismatches.append(f"mismatch-{i:05d}: python {py[:120]!r} != c {c[:120]!r}")
    assert not mismatches, "\n".join(mismatches)
    # the corpus reaches almost every error path
    assert len(codes) >= 15, sorted(codes)


@settings(max_examples=60, deadline=None)
@given(policies)
def test_c_decodes_generated_policies(cbuild: Path, raw: dict) -> None:
    rec = codec.encode(policy.normalize(raw))
    assert c_view(cbuild, rec) == json.dumps(codec.decode(rec), sort_keys=True)


def test_short_fuzz_run(cbuild: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    need("clang")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for i, r in enumerate(corpus()[:400:7]):
        (seeds / f"s{i:04d}").write_bytes(r)
    fuzz_time = request.config.getoption("--fuzz-time")
    out = tmp_path / "fuzz"
    r = subprocess.run(["make", "-s", "-C", str(CDIR), f"O={out}", "fuzz-run", f"CORPUS={seeds}",
                        f"FUZZ_TIME={fuzz_time}"], capture_output=True, text=True, check=False)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    m = [ln for ln in log.splitlines() if ln.startswith("Done ")]
    assert m, log[-2000:]
    assert int(m[-1].split()[1]) > 1000  # it really ran
    assert not list((out / "artifacts").iterdir())
