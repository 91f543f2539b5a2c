"""The record encoder and the reference decoder."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sorto import codec, policy
from sorto import format as F
from sorto.errors import DecodeError, SortoError

from .conftest import EVERY_FIELD
from .hostile_elf import reseal


def demo() -> dict:
    return policy.load(EVERY_FIELD)


def test_demo_uses_every_field() -> None:
    p = demo()
    rec = codec.encode(p)
    types = set()
    pos = F.HEADER_SIZE
    while pos < len(rec):
        t, n = struct.unpack_from("<HH", rec, pos)
        types.add(t)
        pos += 4 + n + (-n % 4)
    assert types == set(F.FIELD_NAMES)
    assert {m["region"] for m in p["mlock"]} == set(F.MLOCK_REGIONS) - {"all"} | {"file"}


def test_roundtrip_and_determinism() -> None:
    p = demo()
    a, b = codec.encode(p), codec.encode(policy.normalize(dict(p)))
    assert a == b
    assert codec.decode(a) == p
    assert len(a) % 4 == 0
    assert a[:4] == b"SRTO"
    assert struct.unpack_from("<H", a, 8)[0] == len(a)


def test_header_checksum_is_zlib_crc32() -> None:
    rec = bytearray(codec.encode(demo()))
    crc = struct.unpack_from("<I", rec, F.OFF_CRC)[0]
    struct.pack_into("<I", rec, F.OFF_CRC, 0)
    assert zlib.crc32(rec) == crc


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda r: r[:10], 1),
        (lambda r: b"XXXX" + r[4:], 2),
        (lambda r: r[:4] + b"\x02" + r[5:], 3),
        (lambda r: r[:5] + b"\x20" + r[6:], 4),
        (lambda r: r[:6] + b"\x04\x00" + r[8:], 5),
        (lambda r: r + b"\0\0\0\0", 6),
        (lambda r: r + b"\0" * 4096, 7),
        (lambda r: r[:-1] + bytes([r[-1] ^ 0xFF]), 8),
    ],
)
def test_header_errors(mutate, code: int) -> None:
    with pytest.raises(DecodeError) as exc:
        codec.decode(mutate(codec.encode(demo())))
    assert exc.value.code == code


def test_field_errors_with_valid_crc() -> None:
    rec = bytearray(codec.encode(demo()))
    # first field is MLOCK text: make its region unknown
    bad = bytearray(rec)
    bad[F.HEADER_SIZE + 4] = 99
    with pytest.raises(DecodeError) as exc:
        codec.decode(reseal(bad))
    assert exc.value.code == 17
    # field length running past the end
    bad = bytearray(rec)
    struct.pack_into("<H", bad, F.HEADER_SIZE + 2, 0xFFF0)
    with pytest.raises(DecodeError) as exc:
        codec.decode(reseal(bad))
    assert exc.value.code == 10
    # nfields lie
    bad = bytearray(rec)
    struct.pack_into("<H", bad, 10, 3)
    with pytest.raises(DecodeError) as exc:
        codec.decode(reseal(bad))
    assert exc.value.code == 13


def test_unknown_field_type_is_skipped_and_counted() -> None:
    rec = bytearray(codec.encode(demo()))
    extra = struct.pack("<HH", 200, 3) + b"abc\0"
    rec += extra
    struct.pack_into("<H", rec, 8, len(rec))
    struct.pack_into("<H", rec, 10, struct.unpack_from("<H", rec, 10)[0] + 1)
    out = codec.decode(reseal(rec))
    assert out["unknown_fields"] == 1


def test_record_cap_enforced_by_encoder() -> None:
    p = policy.normalize({
        "version": 1,
        "scratchpad": [{"function": f"{'f' * 60}{i:03d}", "weight": 1} for i in range(32)],
        "irq_defer": [{"name": f"{'i' * 60}{i:03d}"} for i in range(16)],
        "mlock": [{"region": "file", "name": f"{'m' * 60}{i:03d}"} for i in range(16)],
    })
    with pytest.raises(SortoError, match="4096"):
        codec.encode(p)


names = st.from_regex(F.NAME_PATTERN, fullmatch=True)
policies = st.fixed_dictionaries(
    {"version": st.just(1)},
    optional={
        "profile": st.fixed_dictionaries({}, optional={
            "status": st.sampled_from(sorted(F.STATUS)),
            "source": names, "kernel": names,
            "trace_sha256": st.binary(min_size=32, max_size=32).map(bytes.hex),
            "duration_ms": st.integers(0, 2**32 - 1)}),
        "mlock": st.lists(st.one_of(
            st.fixed_dictionaries({"region": st.sampled_from(["text", "data", "heap", "stack", "all"])},
                                  optional={"max_bytes": st.integers(0, 2**32 - 1)}),
            st.fixed_dictionaries({"region": st.just("file"), "name": names})), max_size=4),
        "sched": st.fixed_dictionaries({"policy": st.sampled_from(sorted(F.SCHED_POLICIES))}, optional={
            "priority": st.integers(0, 99), "nice": st.integers(-20, 19),
            "cpus": st.lists(st.integers(0, 255), unique=True, max_size=8)}),
        "irq_defer": st.lists(st.one_of(
            st.fixed_dictionaries({"irq": st.integers(0, 2**32 - 1)}, optional={"away": st.booleans()}),
            st.fixed_dictionaries({"name": names}, optional={"away": st.booleans()})), max_size=4),
        "scratchpad": st.lists(st.fixed_dictionaries({"function": names, "weight": st.integers(0, 10**6)}),
                               max_size=6),
    },
)


@settings(max_examples=300, deadline=None)
@given(policies)
def test_roundtrip_property(raw: dict) -> None:
    policy.validate(raw)
    p = policy.normalize(raw)
    rec = codec.encode(p)
    assert codec.decode(rec) == p
    assert codec.encode(codec.decode(rec)) == rec


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_decoder_never_crashes_on_garbage(data: bytes) -> None:
    try:
        codec.decode(data)
    except DecodeError:
        pass
