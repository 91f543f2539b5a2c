"""Choose the kernel functions of an image's scratchpad from its policies.

Why a tool: the kernel links the functions named in
``CONFIG_ARM_SCRATCHPAD_FUNCTIONS`` into one block that must fit the on-chip
SRAM, and its post-link check fails the build for a function that cannot
move.  The policies of an image each rank a few dozen functions by their
share of one program's kernel time; this module sums those shares over the
image, drops what the kernel would refuse, and packs the rest into the SRAM
by weight per byte, with the sizes the linker will really use.

The kernel is read from one of:

- ``vmlinux.o`` (exact): the relocatable object Kbuild links before
  ``vmlinux``, from a kernel configured with the feature on (an empty list
  will do), so that every C function has its own ``.text.<name>`` section.
  A function can move exactly when that section exists, and its size is the
  section's.  These are the rules of ``arch/arm/tools/scratchpad.sh check``.
- ``vmlinux`` or ``System.map``: sizes from the symbol table (or the gap to
  the next symbol) and the range-checked sections from their start/end
  symbols.  Assembly cannot be told from C here, so those entries are
  marked unchecked and the kernel's post-link check has the last word.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from . import codec, elfsection, policy
from .analyze import symbols
from .atomic import write_atomic
from .errors import DecodeError, SortoError

#: Output sections whose addresses the kernel checks (scratchpad.sh check).
RANGE_CHECKED = {
    "__sched_text": ".sched.text",
    "__lock_text": ".spinlock.text",
    "__kprobes_text": ".kprobes.text",
    "__entry_text": ".entry.text",
    "__irqentry_text": ".irqentry.text",
    "__softirqentry_text": ".softirqentry.text",
    "__noinstr_text": ".noinstr.text",
    "__cpuidle_text": ".cpuidle.text",
    "__idmap_text": ".idmap.text",
    "__exception_text": ".exception.text",
    "__hyp_text": ".hyp.text",
}
INIT_SECTIONS = {".init.text"}
#: GCC names .text.<these> itself; the kernel refuses them as list entries.
COMPILER_SECTIONS = {"hot", "unlikely", "unknown", "fixup", "startup", "exit", "asan", "tsan"}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
NAME_MAX = 127
POLICY_SUFFIXES = {".yaml", ".yml", ".json"}

WHY_UNKNOWN = "no such function in this kernel"
WHY_INIT = "is __init text, freed after boot"
WHY_NO_SECTION = "has no section of its own (assembly, or a section attribute)"
#: arch/arm/kernel/scratchpad.c: its code is sized by the list it serves.
WHY_SELF = "is the scratchpad's own code, whose size changes with the list"
#: scratchpad.sh check finds functions by nm types t/T only.
WHY_WEAK = "is a weak symbol, which the post-link check does not look up"


def why_range_checked(section: str) -> str:
    """The post-link check's wording for a function of a range-checked section."""
    return f"is in {section}, whose addresses are range-checked"


@dataclasses.dataclass
class KernelFunction:
    """What the kernel says about one function name."""

    size: int = 0  # bytes it can add to the block, alignment padding included
    refused: str = ""  # why it cannot move; empty when it can
    checked: bool = True  # False: assembly could not be ruled out (vmlinux, System.map)


@dataclasses.dataclass
class KernelText:
    """The functions of one kernel, read from vmlinux.o, vmlinux or System.map."""

    path: Path
    kind: str  # "vmlinux.o", "vmlinux" or "System.map"
    functions: dict[str, KernelFunction]

    def lookup(self, name: str) -> KernelFunction:
        """Return the function, or a refused entry for a name this kernel lacks."""
        return self.functions.get(name) or KernelFunction(refused=WHY_UNKNOWN)


def _aligned(size: int, align: int) -> int:
    align = max(align, 1)
    return (size + align - 1) // align * align


def _read_relocatable(path: Path, elf: ELFFile) -> KernelText:
    """vmlinux.o: a function moves exactly when a section ``.text.<name>`` exists."""
    own: dict[str, int] = {}
    names: list[str] = []
    for i in range(elf.num_sections()):
        sec = elf.get_section(i)
        names.append(sec.name)
        if sec.name.startswith(".text.") and sec["sh_flags"] & 0x4:  # SHF_EXECINSTR
            fn = sec.name[len(".text."):]
            align = sec["sh_addralign"]
            # Worst-case padding before a section aligned beyond the 4 bytes
            # every ARM instruction has: the list's order decides the real one.
            pad = align - 4 if align > 4 else 0
            own[fn] = own.get(fn, 0) + _aligned(sec["sh_size"], align) + pad
    if not own:
        raise SortoError(
            f"{path}: no .text.<function> sections: this vmlinux.o was built without "
            "CONFIG_ARM_SCRATCHPAD_FUNCTIONS (set it to a list file, an empty one will do, and rebuild)"
        )
    range_checked = set(RANGE_CHECKED.values())
    out: dict[str, KernelFunction] = {}
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        raise SortoError(f"{path}: no symbol table")
    source = ""
    for sym in symtab.iter_symbols():
        name = sym.name
        if sym["st_info"]["type"] == "STT_FILE":
            source = name  # the local symbols that follow come from this file
            continue
        if not name or sym["st_info"]["type"] != "STT_FUNC" or not isinstance(sym["st_shndx"], int):
            continue
        local = sym["st_info"]["bind"] == "STB_LOCAL"
        own_file = (local and source == "scratchpad.c") or name.startswith("arm_scratchpad_")
        section = names[sym["st_shndx"]]
        if own_file:
            # Built from the list's names table: sized with an empty list here,
            # larger once the list is in (the relink would overflow the block).
            fn = KernelFunction(refused=WHY_SELF)
        elif sym["st_info"]["bind"] == "STB_WEAK":
            fn = KernelFunction(refused=WHY_WEAK)
        elif section == f".text.{name}":
            fn = KernelFunction(size=own[name])
        elif section in range_checked:
            fn = KernelFunction(refused=why_range_checked(section))
        elif section in INIT_SECTIONS:
            fn = KernelFunction(refused=WHY_INIT)
        else:
            fn = KernelFunction(refused=WHY_NO_SECTION)
        prev = out.get(name)
        # A static name in several files: movable only if every copy is.
        if prev is None or (prev.refused == "" and fn.refused):
            out[name] = fn
    return KernelText(path, "vmlinux.o", out)


def _classify_by_address(funcs: list[tuple[int, str, int]], markers: dict[str, int]) -> dict[str, KernelFunction]:
    """Refusals from address ranges, as scratchpad.sh does on the linked vmlinux."""
    ranges = []
    for base, section in RANGE_CHECKED.items():
        lo, hi = markers.get(base + "_start"), markers.get(base + "_end")
        if lo is not None and hi is not None:
            ranges.append((lo, hi, why_range_checked(section)))
    lo, hi = markers.get("_sinittext"), markers.get("_einittext")
    if lo is not None and hi is not None:
        ranges.append((lo, hi, WHY_INIT))
    out: dict[str, KernelFunction] = {}
    for addr, name, size in funcs:
        why = next((w for a, b, w in ranges if a <= addr < b), "")
        prev = out.get(name)
        fn = KernelFunction(size=_aligned(size, 4), refused=why, checked=False)
        if prev is None or (prev.refused == "" and why):
            out[name] = fn
    return out


def _read_symbols(path: Path, table: symbols.SymbolTable) -> KernelText:
    """vmlinux or System.map, read by the analyzer's loader: sizes and places, no section names."""
    # Weak functions stay out: the post-link check looks up nm types t/T only.
    funcs = [(addr, name, size) for addr, name, size, weak in table.functions if not weak]
    return KernelText(path, table.kind, _classify_by_address(funcs, table.marks))


def read_kernel(path: str | Path) -> KernelText:
    """Read the functions of a kernel from vmlinux.o, vmlinux or System.map."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            magic = fh.read(4)
            if magic != b"\x7fELF":
                return _read_symbols(p, symbols.load_system_map(p))
            try:
                elf = ELFFile(fh)
                if elf["e_machine"] != "EM_ARM":
                    raise SortoError(f"{p}: a {elf['e_machine']} kernel; the scratchpad is for 32-bit ARM")
                if elf["e_type"] == "ET_REL":
                    return _read_relocatable(p, elf)
            except ELFError as exc:
                raise SortoError(f"{p}: malformed ELF: {exc}") from exc
    except OSError as exc:
        raise SortoError(f"{p}: cannot read: {exc}") from exc
    return _read_symbols(p, symbols.load_vmlinux(p))


@dataclasses.dataclass
class Wish:
    """One function, as the image's policies ask for it."""

    name: str
    weight: int = 0  # sum of the policies' weights (ppm of each program's kernel time)
    sources: list[str] = dataclasses.field(default_factory=list)


def _policy_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in POLICY_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise SortoError(f"{p}: no such policy file or folder")
    return files


def _entries(path: Path) -> list[dict]:
    """The scratchpad entries of a policy file, or of the record an ELF file carries."""
    with path.open("rb") as fh:
        is_elf = fh.read(4) == b"\x7fELF"
    if not is_elf:
        return policy.load(path)["scratchpad"]
    data = elfsection.read_section(path)
    if data is None:
        return []
    try:
        return codec.decode(data)["scratchpad"]
    except DecodeError as exc:
        raise SortoError(f"{path}: section {elfsection.F.SECTION_NAME} does not decode: {exc}") from exc


def gather(paths: Iterable[str | Path]) -> list[Wish]:
    """Sum the scratchpad weights of every policy (file, folder, or marked ELF) under ``paths``."""
    wishes: dict[str, Wish] = {}
    for f in _policy_files(paths):
        for entry in _entries(f):
            w = wishes.setdefault(entry["function"], Wish(entry["function"]))
            w.weight += int(entry["weight"])
            w.sources.append(str(f))
    return list(wishes.values())


@dataclasses.dataclass
class Decision:
    """What happened to one wished-for function."""

    wish: Wish
    size: int
    placed: bool
    why: str  # reason when not placed; "unchecked" note when placed from vmlinux/System.map


def _name_problem(name: str) -> str:
    if not NAME_RE.match(name) or len(name) > NAME_MAX:
        return "is not a C function name"
    if name in COMPILER_SECTIONS:
        return f"would clash with the compiler's .text.{name} section"
    return ""


def fit(wishes: list[Wish], kernel: KernelText, sram: int) -> list[Decision]:
    """Place the movable functions with the most weight per byte until the SRAM is full.

    Greedy by density is what a 0/1 knapsack over a few hundred small items
    comes to within one function's size; it keeps the choice explainable in
    the list's comments.  Ties go to the heavier, then the smaller, then the
    name, so the list is the same on every run.
    """
    decisions: list[Decision] = []
    movable: list[tuple[Wish, KernelFunction]] = []
    for w in wishes:
        why = _name_problem(w.name)
        fn = kernel.lookup(w.name) if not why else KernelFunction(refused=why)
        if fn.refused:
            decisions.append(Decision(w, fn.size, False, fn.refused))
        elif fn.size == 0:
            decisions.append(Decision(w, 0, False, "has no size in this kernel"))
        else:
            movable.append((w, fn))
    movable.sort(key=lambda m: (-m[0].weight / m[1].size, -m[0].weight, m[1].size, m[0].name))
    used = 0
    for w, fn in movable:
        if used + fn.size <= sram:
            used += fn.size
            decisions.append(Decision(w, fn.size, True, "" if fn.checked else "unchecked"))
        else:
            decisions.append(Decision(w, fn.size, False, f"does not fit: {fn.size} bytes, {sram - used} left"))
    return decisions


def render_list(decisions: list[Decision], kernel: KernelText, sram: int, sources: int) -> str:
    """The list file: placed functions, heaviest first, each with its evidence as a comment."""
    placed = sorted((d for d in decisions if d.placed), key=lambda d: (-d.wish.weight, d.wish.name))
    used = sum(d.size for d in placed)
    out = [
        "# Kernel functions for the on-chip SRAM (CONFIG_ARM_SCRATCHPAD_FUNCTIONS),",
        f"# chosen by `sorto scratchpad-list` from {sources} policies and {kernel.path.name} ({kernel.kind}).",
        f"# {len(placed)} functions, {used} of {sram} bytes.  weight: parts per million of",
        "# each program's kernel time, summed over the programs that ask for it.",
    ]
    for d in decisions:
        if not d.placed:
            out.append(f"# left out: {d.wish.name}: {d.why}")
    if any(d.why == "unchecked" for d in placed):
        out.append(f"# {kernel.kind} cannot tell assembly from C: the kernel's post-link check decides.")
    width = max((len(d.wish.name) for d in placed), default=0)
    for d in placed:
        n = len(d.wish.sources)
        out.append(f"{d.wish.name:<{width}}  # weight {d.wish.weight}, {d.size} bytes, {n} program{'s' * (n != 1)}")
    return "\n".join(out) + "\n"


def list_names(text: str) -> list[str]:
    """The function names of a list file's text, as scratchpad.sh reads them ('#' starts a comment)."""
    return [n for n in (ln.split("#")[0].strip() for ln in text.splitlines()) if n]


def parse_size(text: str) -> int:
    """SRAM size as the kernel's scratchpad= takes it: 65536, 0x10000, 64K, 1M."""
    t = text.strip()
    mult = 1
    if t[-1:] in ("K", "k"):
        mult, t = 1024, t[:-1]
    elif t[-1:] in ("M", "m"):
        mult, t = 1024 * 1024, t[:-1]
    try:
        value = int(t, 0) * mult
    except ValueError as exc:
        raise SortoError(f"SRAM size {text!r}: not a size (65536, 0x10000, 64K)") from exc
    if value <= 0 or value % 4096:
        raise SortoError(f"SRAM size {text!r}: must be a positive multiple of 4096 bytes")
    return value


def make_list(kernel_path: str | Path, policy_paths: list[str | Path], sram: int,
              output: str | Path | None) -> tuple[str, list[Decision]]:
    """Read, choose, and (when ``output`` is given) write the list atomically."""
    kernel = read_kernel(kernel_path)
    files = _policy_files(policy_paths)
    wishes = gather(files)
    decisions = fit(wishes, kernel, sram)
    text = render_list(decisions, kernel, sram, len(files))
    if output is not None:
        write_atomic(output, text)
    return text, decisions
