"""Constants of the metadata record, format version 1.

This is the single source of truth for the binary layout: the encoder and
decoder in :mod:`sorto.codec` use it, and the C header shared by the kernel
module, the host unit harness and the fuzz target is generated from it
(``sorto genheader``), so Python and C cannot drift apart silently.  The
layout is described for humans in ``docs/metadata-format.md``.
"""

from __future__ import annotations

SECTION_NAME = ".elf_hook_module_data"

MAGIC = b"SRTO"
VERSION = 1
HEADER_SIZE = 16
FIELD_HEADER_SIZE = 4
ALIGN = 4
MAX_RECORD = 4096  # whole record, header included; also the kernel's cap

# Header layout (little-endian): magic[4] version:u8 header_size:u8
# flags:u16 total_len:u16 nfields:u16 crc32:u32
HEADER_FORMAT = "<4sBBHHHI"
OFF_CRC = 12

# Header flags: bits 0-1 carry the profile status.
FLAG_STATUS_MASK = 0x0003
FLAGS_KNOWN = FLAG_STATUS_MASK

STATUS = {"manual": 0, "profiled": 1, "unprofiled": 2}

# Field types, in the order they must appear in a record.
FIELD_MLOCK = 1
FIELD_SCHED = 2
FIELD_IRQ_DEFER = 3
FIELD_SCRATCHPAD = 4
FIELD_PROFILE_SOURCE = 5
FIELD_PROFILE_KERNEL = 6
FIELD_PROFILE_DIGEST = 7
FIELD_PROFILE_DURATION = 8
FIELD_MAX_KNOWN = FIELD_PROFILE_DURATION

# Field types that may appear at most once in a record.
SINGLE_FIELDS = frozenset(
    {FIELD_SCHED, FIELD_PROFILE_SOURCE, FIELD_PROFILE_KERNEL, FIELD_PROFILE_DIGEST, FIELD_PROFILE_DURATION}
)

FIELD_NAMES = {
    FIELD_MLOCK: "MLOCK",
    FIELD_SCHED: "SCHED",
    FIELD_IRQ_DEFER: "IRQ_DEFER",
    FIELD_SCRATCHPAD: "SCRATCHPAD",
    FIELD_PROFILE_SOURCE: "PROFILE_SOURCE",
    FIELD_PROFILE_KERNEL: "PROFILE_KERNEL",
    FIELD_PROFILE_DIGEST: "PROFILE_DIGEST",
    FIELD_PROFILE_DURATION: "PROFILE_DURATION",
}

# Fixed parts of the field values.
MLOCK_FIXED = 8  # region:u8 reserved:u8 reserved:u16 max_bytes:u32, then name
SCHED_FIXED = 4  # policy:u8 priority:u8 nice:s8 flags:u8, then CPU bitmap
IRQ_FIXED = 8  # selector:u8 flags:u8 reserved:u16 irq:u32, then name
SCRATCH_FIXED = 4  # weight:u32, then function name
DIGEST_SIZE = 32
DURATION_SIZE = 4

MLOCK_REGIONS = {"text": 1, "data": 2, "heap": 3, "stack": 4, "all": 5, "file": 6}

# Values are the kernel's SCHED_* constants.
SCHED_POLICIES = {"other": 0, "fifo": 1, "rr": 2, "batch": 3, "idle": 5}
SCHED_FLAG_PRIORITY = 0x01
SCHED_FLAG_NICE = 0x02
SCHED_FLAGS_KNOWN = SCHED_FLAG_PRIORITY | SCHED_FLAG_NICE
SCHED_PRIO_MAX = 99
NICE_MIN = -20
NICE_MAX = 19
MAX_CPU_BYTES = 32  # CPUs 0..255

IRQ_BY_NUMBER = 1
IRQ_BY_NAME = 2
IRQ_FLAG_AWAY = 0x01
IRQ_FLAGS_KNOWN = IRQ_FLAG_AWAY

MAX_MLOCK = 16
MAX_IRQ = 16
MAX_SCRATCH = 32
MAX_FIELDS = 128
MAX_NAME = 63
MAX_WEIGHT = 1_000_000

# Names (files, interrupts, kernel functions, provenance strings) are
# restricted to this set so that the kernel can print them as they are:
# no spaces, no control bytes, nothing a log parser could trip on.
NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:+@/-")
NAME_PATTERN = r"^[A-Za-z0-9_.:+@/-]{1,63}$"

# Decoder error codes (negative in C); shared so messages match.
ERRORS = {
    1: "record shorter than its header",
    2: "bad magic",
    3: "unsupported version",
    4: "bad header size",
    5: "unknown header flags",
    6: "record length does not match",
    7: "record larger than 4096 bytes",
    8: "checksum mismatch",
    9: "field header truncated",
    10: "field value past end of record",
    11: "nonzero padding",
    12: "fields out of order",
    13: "field count does not match",
    14: "bad field size",
    15: "too many entries",
    16: "bad name",
    17: "value out of range",
    18: "nonzero reserved bits",
    19: "duplicate field",
}
ERROR_NAMES = {
    1: "SHORT",
    2: "MAGIC",
    3: "VERSION",
    4: "HEADER_SIZE",
    5: "FLAGS",
    6: "LENGTH",
    7: "TOO_BIG",
    8: "CRC",
    9: "FIELD_TRUNC",
    10: "FIELD_OVERRUN",
    11: "PADDING",
    12: "ORDER",
    13: "NFIELDS",
    14: "FIELD_SIZE",
    15: "TOO_MANY",
    16: "NAME",
    17: "RANGE",
    18: "RESERVED",
    19: "DUPLICATE",
}
