"""Encode a canonical policy into the binary record, and decode it back.

The decoder is as strict as the kernel module's C decoder (same checks, same
error codes): tests run both on the same hostile bytes and compare.  The
encoder is deterministic: fields in type order, entries in policy order, zero
padding, no timestamps or paths, so the same policy always gives the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING, Any

from . import format as F
from .errors import DecodeError, SortoError

if TYPE_CHECKING:  # policy imports YAML and the validator: `sorto show` needs neither
    from .policy import Policy

_STATUS_BY_VALUE = {v: k for k, v in F.STATUS.items()}
_REGION_BY_VALUE = {v: k for k, v in F.MLOCK_REGIONS.items()}
_POLICY_BY_VALUE = {v: k for k, v in F.SCHED_POLICIES.items()}


def _pad(n: int) -> int:
    return (-n) % F.ALIGN


def _field(ftype: int, value: bytes) -> bytes:
    return struct.pack("<HH", ftype, len(value)) + value + b"\0" * _pad(len(value))


def _name(s: str) -> bytes:
    b = s.encode("ascii")
    if not 1 <= len(b) <= F.MAX_NAME or not set(b) <= F.NAME_CHARS:
        raise SortoError(f"bad name {s!r}: 1-{F.MAX_NAME} characters of [A-Za-z0-9_.:+@/-]")
    return b


def encode(policy: Policy) -> bytes:
    """Encode a canonical policy (see :func:`sorto.policy.normalize`)."""
    fields: list[bytes] = []
    for m in policy["mlock"]:
        name = _name(m["name"]) if m["region"] == "file" else b""
        fixed = struct.pack("<BBHI", F.MLOCK_REGIONS[m["region"]], 0, 0, m["max_bytes"])
        fields.append(_field(F.FIELD_MLOCK, fixed + name))
    if "sched" in policy:
        s = policy["sched"]
        flags = (F.SCHED_FLAG_PRIORITY if "priority" in s else 0) | (F.SCHED_FLAG_NICE if "nice" in s else 0)
        bitmap = bytearray()
        for cpu in s["cpus"]:
            while len(bitmap) <= cpu // 8:
                bitmap.append(0)
            bitmap[cpu // 8] |= 1 << (cpu % 8)
        fixed = struct.pack("<BBbB", F.SCHED_POLICIES[s["policy"]], s.get("priority", 0), s.get("nice", 0), flags)
        fields.append(_field(F.FIELD_SCHED, fixed + bytes(bitmap)))
    for i in policy["irq_defer"]:
        flags = F.IRQ_FLAG_AWAY if i["away"] else 0
        if "irq" in i:
            value = struct.pack("<BBHI", F.IRQ_BY_NUMBER, flags, 0, i["irq"])
        else:
            value = struct.pack("<BBHI", F.IRQ_BY_NAME, flags, 0, 0) + _name(i["name"])
        fields.append(_field(F.FIELD_IRQ_DEFER, value))
    for sp in policy["scratchpad"]:
        fields.append(_field(F.FIELD_SCRATCHPAD, struct.pack("<I", sp["weight"]) + _name(sp["function"])))
    prof = policy["profile"]
    if "source" in prof:
        fields.append(_field(F.FIELD_PROFILE_SOURCE, _name(prof["source"])))
    if "kernel" in prof:
        fields.append(_field(F.FIELD_PROFILE_KERNEL, _name(prof["kernel"])))
    if "trace_sha256" in prof:
        fields.append(_field(F.FIELD_PROFILE_DIGEST, bytes.fromhex(prof["trace_sha256"])))
    if "duration_ms" in prof:
        fields.append(_field(F.FIELD_PROFILE_DURATION, struct.pack("<I", prof["duration_ms"])))
    body = b"".join(fields)
    total = F.HEADER_SIZE + len(body)
    if total > F.MAX_RECORD:
        raise SortoError(f"policy encodes to {total} bytes, over the {F.MAX_RECORD}-byte cap of the kernel")
    flags = F.STATUS[prof["status"]]
    header = struct.pack(F.HEADER_FORMAT, F.MAGIC, F.VERSION, F.HEADER_SIZE, flags, total, len(fields), 0)
    record = bytearray(header + body)
    struct.pack_into("<I", record, F.OFF_CRC, zlib.crc32(record) & 0xFFFFFFFF)
    return bytes(record)


def _fail(code: int) -> DecodeError:
    return DecodeError(code, F.ERRORS[code])


def _dname(raw: bytes) -> str:
    if not 1 <= len(raw) <= F.MAX_NAME or not set(raw) <= F.NAME_CHARS:
        raise _fail(16)
    return raw.decode("ascii")


def decode(data: bytes) -> Policy:
    """Decode a record into canonical policy form; raise DecodeError when malformed."""
    if len(data) < F.HEADER_SIZE:
        raise _fail(1)
    magic, version, hsize, flags, total, nfields, crc = struct.unpack_from(F.HEADER_FORMAT, data)
    if magic != F.MAGIC:
        raise _fail(2)
    if version != F.VERSION:
        raise _fail(3)
    if hsize != F.HEADER_SIZE:
        raise _fail(4)
    if flags & ~F.FLAGS_KNOWN or (flags & F.FLAG_STATUS_MASK) not in _STATUS_BY_VALUE:
        raise _fail(5)
    if len(data) > F.MAX_RECORD:
        raise _fail(7)
    if total != len(data):
        raise _fail(6)
    check = bytearray(data)
    struct.pack_into("<I", check, F.OFF_CRC, 0)
    if zlib.crc32(check) & 0xFFFFFFFF != crc:
        raise _fail(8)

    profile: dict[str, Any] = {"status": _STATUS_BY_VALUE[flags & F.FLAG_STATUS_MASK]}
    out: Policy = {"version": 1, "profile": profile, "mlock": [], "irq_defer": [], "scratchpad": []}
    pos = F.HEADER_SIZE
    count = 0
    last_type = 0
    while pos < total:
        if total - pos < F.FIELD_HEADER_SIZE:
            raise _fail(9)
        ftype, flen = struct.unpack_from("<HH", data, pos)
        pos += F.FIELD_HEADER_SIZE
        if flen > total - pos:
            raise _fail(10)
        value = data[pos : pos + flen]
        pad = _pad(flen)
        if pad > total - pos - flen:
            raise _fail(10)
        if any(data[pos + flen : pos + flen + pad]):
            raise _fail(11)
        pos += flen + pad
        count += 1
        if count > F.MAX_FIELDS:
            raise _fail(15)
        if ftype < last_type:
            raise _fail(12)
        if ftype == last_type and ftype in F.SINGLE_FIELDS:
            raise _fail(19)
        last_type = ftype
        _decode_field(ftype, value, out)
    if count != nfields:
        raise _fail(13)
    return out


def _decode_field(ftype: int, v: bytes, out: Policy) -> None:
    prof = out["profile"]
    if ftype == F.FIELD_MLOCK:
        if len(v) < F.MLOCK_FIXED:
            raise _fail(14)
        region, r1, r2, max_bytes = struct.unpack_from("<BBHI", v)
        if r1 or r2:
            raise _fail(18)
        if region not in _REGION_BY_VALUE:
            raise _fail(17)
        if len(out["mlock"]) >= F.MAX_MLOCK:
            raise _fail(15)
        item: dict[str, Any] = {"region": _REGION_BY_VALUE[region], "max_bytes": max_bytes}
        rest = v[F.MLOCK_FIXED :]
        if item["region"] == "file":
            item["name"] = _dname(rest)
        elif rest:
            raise _fail(14)
        out["mlock"].append(item)
    elif ftype == F.FIELD_SCHED:
        if len(v) < F.SCHED_FIXED or len(v) > F.SCHED_FIXED + F.MAX_CPU_BYTES:
            raise _fail(14)
        pol, prio, nice, flags = struct.unpack_from("<BBbB", v)
        if flags & ~F.SCHED_FLAGS_KNOWN:
            raise _fail(18)
        if pol not in _POLICY_BY_VALUE or prio > F.SCHED_PRIO_MAX or not F.NICE_MIN <= nice <= F.NICE_MAX:
            raise _fail(17)
        if (not flags & F.SCHED_FLAG_PRIORITY and prio) or (not flags & F.SCHED_FLAG_NICE and nice):
            raise _fail(18)
        sched: dict[str, Any] = {"policy": _POLICY_BY_VALUE[pol]}
        if flags & F.SCHED_FLAG_PRIORITY:
            sched["priority"] = prio
        if flags & F.SCHED_FLAG_NICE:
            sched["nice"] = nice
        bitmap = v[F.SCHED_FIXED :]
        if bitmap and bitmap[-1] == 0:
            raise _fail(14)  # canonical: no trailing zero bytes
        sched["cpus"] = [i * 8 + b for i, byte in enumerate(bitmap) for b in range(8) if byte >> b & 1]
        out["sched"] = sched
    elif ftype == F.FIELD_IRQ_DEFER:
        if len(v) < F.IRQ_FIXED:
            raise _fail(14)
        sel, flags, r, irq = struct.unpack_from("<BBHI", v)
        if r or flags & ~F.IRQ_FLAGS_KNOWN:
            raise _fail(18)
        if len(out["irq_defer"]) >= F.MAX_IRQ:
            raise _fail(15)
        rest = v[F.IRQ_FIXED :]
        if sel == F.IRQ_BY_NUMBER:
            if rest:
                raise _fail(14)
            item = {"irq": irq}
        elif sel == F.IRQ_BY_NAME:
            if irq:
                raise _fail(18)
            item = {"name": _dname(rest)}
        else:
            raise _fail(17)
        item["away"] = bool(flags & F.IRQ_FLAG_AWAY)
        out["irq_defer"].append(item)
    elif ftype == F.FIELD_SCRATCHPAD:
        if len(v) < F.SCRATCH_FIXED + 1:
            raise _fail(14)
        (weight,) = struct.unpack_from("<I", v)
        if weight > F.MAX_WEIGHT:
            raise _fail(17)
        if len(out["scratchpad"]) >= F.MAX_SCRATCH:
            raise _fail(15)
        out["scratchpad"].append({"function": _dname(v[F.SCRATCH_FIXED :]), "weight": weight})
    elif ftype == F.FIELD_PROFILE_SOURCE:
        prof["source"] = _dname(v)
    elif ftype == F.FIELD_PROFILE_KERNEL:
        prof["kernel"] = _dname(v)
    elif ftype == F.FIELD_PROFILE_DIGEST:
        if len(v) != F.DIGEST_SIZE:
            raise _fail(14)
        prof["trace_sha256"] = v.hex()
    elif ftype == F.FIELD_PROFILE_DURATION:
        if len(v) != F.DURATION_SIZE:
            raise _fail(14)
        prof["duration_ms"] = struct.unpack("<I", v)[0]
    else:
        # Unknown field types are skipped (newer writers, same version), counted.
        out["unknown_fields"] = out.get("unknown_fields", 0) + 1


def to_json_obj(policy: Policy) -> dict[str, Any]:
    """Return the policy in the key order used by ``sorto show --json``."""
    keys = ["version", "profile", "mlock", "sched", "irq_defer", "scratchpad", "unknown_fields"]
    return {k: policy[k] for k in keys if k in policy}
