"""End to end in QEMU: the patched loader hands the section to sorto_hook."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import pytest
from elftools.elf.elffile import ELFFile

from sorto import hookfs

from .conftest import VARIANTS, boot

DBG = "/sys/kernel/debug/sorto_hook"
TRACING = "/sys/kernel/tracing"
T = TypeVar("T")


def records(guest) -> list[hookfs.HookRecord]:
    return hookfs.parse_records(guest.check(f"cat {DBG}/records"))


def stats(guest) -> dict[str, int]:
    return hookfs.parse_stats(guest.check(f"cat {DBG}/stats"))


def execstat(guest, path: str, *args: str) -> tuple[dict[str, int], str]:
    out = guest.check(" ".join(["/usr/bin/execstat", path, *args]))
    m = re.search(r"^execstat (.*)$", out, re.M)
    assert m, out
    kv = dict(t.split("=") for t in m.group(1).split())
    return {k: int(v) for k, v in kv.items()}, out[: m.start()]


def test_guest_runs_patched_kernel(guest, guest_art) -> None:
    assert guest.release == guest_art.release
    st = stats(guest)
    assert st["enabled"] == 1
    assert guest.check("cat /proc/cmdline").count("elf_hook=off") == 0
    # The guest kernel runs under KASAN, so the dmesg checks below also catch
    # out-of-bounds reads in the section parser that would not crash.
    # 6.1 and 6.12 print the first line, 6.18 (kasan_init_generic) the second.
    dmesg = guest.check("dmesg")
    if guest_art.flavour == "debug":
        assert re.search(r"kasan: Kernel address sanitizer initialized|KernelAddressSanitizer initialized", dmesg)
    if guest_art.flavour == "scratchpad":
        assert "state resident" in guest.check("cat /sys/kernel/debug/scratchpad")


@pytest.mark.parametrize("variant", VARIANTS)
def test_module_receives_what_show_prints(guest, payload, variant: str) -> None:
    path = f"/t/meta/{variant}"
    guest.check(f"echo 1 > {DBG}/clear")
    delta, out = execstat(guest, path, "arg")
    assert out.strip() == f"hello {path} arg"
    assert delta["exit"] == 0
    assert delta.get("with_metadata") == 1 and delta.get("decoded_ok") == 1, delta
    recs = records(guest)
    assert len(recs) == 1, recs
    rec = recs[0]
    assert (rec.file, rec.result, rec.comm) == (path, "ok", variant[:15])
    assert rec.policy == payload["shown"][path]


@pytest.mark.parametrize("variant", VARIANTS)
def test_binary_without_section_runs_as_before(guest, variant: str) -> None:
    path = f"/t/plain/{variant}"
    guest.check(f"echo 1 > {DBG}/clear")
    delta, out = execstat(guest, path, "x", "7")
    assert out.strip() == f"hello {path} x"
    assert delta["exit"] == 7
    assert delta.get("no_section") == 1 and delta.get("kernel_no_section") == 1, delta
    assert "with_metadata" not in delta and "kernel_malformed" not in delta
    assert records(guest) == []


def test_hostile_corpus(guest, payload) -> None:
    cases = payload["cases"]
    assert len(cases) >= 50
    failures = []
    for c in cases:
        path = f"/t/hostile/{c.name}"
        delta, out = execstat(guest, path, "h")
        problems = []
        if c.runs and (delta["exit"] != 0 or f"hello {path} h" not in out):
            problems.append(f"did not run: {delta} {out.strip()!r}")
        if not c.runs and delta["exit"] == 0 and delta["errno"] == 0 and "hello" in out:
            problems.append("ran although its program headers are broken")
        expect = {"found": "kernel_found", "no_section": "kernel_no_section", "malformed": "kernel_malformed"}
        if c.kernel is not None and delta.get(expect[c.kernel]) != 1:
            problems.append(f"kernel status: want {c.kernel}, got {delta}")
        if c.decodes is not None:
            key = "decoded_ok" if c.decodes else "decode_rejected"
            if delta.get(key) != 1:
                problems.append(f"module: want {key}, got {delta}")
        if problems:
            failures.append(f"{c.name}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
    assert not guest.kernel_problems()
    # the guest is still fully usable
    assert guest.check("echo alive").strip() == "alive"


def function_traced(guest, functions: str, run: Callable[[], T]) -> tuple[T, str]:
    """Call ``run`` with the function tracer on, filtered on ``functions``; return its result and the trace."""
    guest.check(f"echo {functions} > {TRACING}/set_ftrace_filter; echo function > {TRACING}/current_tracer; "
                f"echo > {TRACING}/trace; echo 1 > {TRACING}/tracing_on")
    try:
        result = run()
    finally:
        guest.check(f"echo 0 > {TRACING}/tracing_on")
    trace = guest.check(f"cat {TRACING}/trace")
    guest.check(f"echo nop > {TRACING}/current_tracer; echo > {TRACING}/set_ftrace_filter; "
                f"echo 1 > {TRACING}/tracing_on")
    return result, trace


def calls_of_exec(guest, path: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Exec ``path`` under the function tracer filtered on the lookup's two ways to read the file.

    Returns the exec's counters and the traced calls made from the lookup
    (``kernel_read <-elf_hook_...``): its callers are the lookup's own
    functions, or elf_hook_exec() where the compiler inlined them; the
    loader's own kernel_read() calls name other callers.
    """
    (delta, out), trace = function_traced(guest, "kernel_read __filemap_get_folio",
                                          lambda: execstat(guest, path, "x"))
    assert out.strip() == f"hello {path} x", out
    return delta, re.findall(r"\b(kernel_read|__filemap_get_folio) <-(elf_hook_\w+)", trace)


def test_tail_read_from_the_page_cache_or_the_file(guest, payload) -> None:
    # tmpfs keeps every page in the page cache, so the lookup always copies the file's tail from
    # there.  On ext2 over a loop device, after drop_caches, the tail of a 4 MiB program is not
    # cached: the lookup must fall back to kernel_read(), and find the same section.  The next exec
    # finds the tail cached again.
    path = "/mnt/ext2/hello-static"
    # (busybox's mount -o loop answers EBUSY here: losetup, then mount the device)
    guest.check("dd if=/dev/zero of=/tmp/ext2.img bs=1024 count=16384 2>/dev/null "
                "&& mke2fs -F /tmp/ext2.img > /dev/null && losetup /dev/loop0 /tmp/ext2.img "
                "&& mkdir -p /mnt/ext2 && mount -t ext2 /dev/loop0 /mnt/ext2 "
                f"&& cp /t/big/hello-static {path} && sync && echo 3 > /proc/sys/vm/drop_caches")
    try:
        want = payload["shown"]["/t/big/hello-static"]
        seen = {}
        for state in ("cold", "warm"):
            guest.check(f"echo 1 > {DBG}/clear")
            delta, calls = calls_of_exec(guest, path)
            assert delta.get("with_metadata") == 1 and delta.get("decoded_ok") == 1, (state, delta)
            (rec,) = records(guest)
            assert (rec.file, rec.result) == (path, "ok"), rec
            assert rec.policy == want
            seen[state] = calls
        # cold: the page-cache lookup misses and kernel_read() reads; warm: lookups only
        assert seen["cold"] and seen["cold"][0][0] == "__filemap_get_folio", seen
        assert any(fn == "kernel_read" for fn, _ in seen["cold"]), seen
        assert seen["warm"] and all(fn == "__filemap_get_folio" for fn, _ in seen["warm"]), seen
    finally:
        guest.check("umount /mnt/ext2; losetup -d /dev/loop0; rm -f /tmp/ext2.img")
    assert not guest.kernel_problems()


def test_every_tail_buffer_taken(guest, payload) -> None:
    # The lookup reads the section header table into one of four tail buffers; an exec that finds
    # all four taken gets kvmalloc()ed buffers of its own.  Five execs are held inside the lookup's
    # kernel_read() at once: fuse_hold (progs/fuse_hold.c) serves the 4 MiB program as five files
    # and answers reads past its loadable part only when all five wait there.  Exactly one exec
    # (the one that came fifth) allocates, table and name table; every exec finds its section.
    n = 5
    with open(payload["dir"] / "big-hello-static", "rb") as fh:
        hold_from = ELFFile(fh).get_section_by_name(".sorto_test_pad")["sh_offset"]
    kvmalloc = guest.check("grep -m1 -x -E '__kvmalloc_node_noprof|kvmalloc_node' "
                           f"{TRACING}/available_filter_functions").strip()
    # (its server writes to a file, not to the console the harness reads)
    guest.check(f"mkdir -p /mnt/hold && /usr/bin/fuse_hold /mnt/hold /t/big/hello-static {n} {hold_from} "
                "> /tmp/fuse_hold.log 2>&1")
    try:
        guest.check(f"echo 1 > {DBG}/clear")
        execs = " ".join(map(str, range(n)))
        out, trace = function_traced(
            guest, f"kernel_read {kvmalloc}",
            lambda: guest.check(f"for i in {execs}; do /mnt/hold/p$i x$i > /tmp/hold$i.out & done; wait; "
                                "cat /tmp/hold*.out", timeout=120))
    finally:
        served = guest.check("umount /mnt/hold; cat /tmp/fuse_hold.log; rm -f /tmp/hold*.out /tmp/fuse_hold.log")
    assert sorted(out.strip().splitlines()) == [f"hello /mnt/hold/p{i} x{i}" for i in range(n)], out
    assert f"reads of {n} files held, answering" in served, served
    want = payload["shown"]["/t/big/hello-static"]
    recs = records(guest)
    assert sorted(r.file for r in recs) == [f"/mnt/hold/p{i}" for i in range(n)], recs
    assert all(r.result == "ok" and r.policy == want for r in recs), recs
    reads: dict[str, int] = {}
    allocs: dict[str, int] = {}
    for pid, fn in re.findall(r"-(\d+)\s+\[\d+\].*?\b(kernel_read|\w*kvmalloc\w*) <-elf_hook_\w+", trace):
        d = reads if fn == "kernel_read" else allocs
        d[pid] = d.get(pid, 0) + 1
    assert len(reads) == n, trace  # every exec read its tail with kernel_read(), held there
    assert list(allocs.values()) == [2] and set(allocs) <= set(reads), trace
    assert not guest.kernel_problems()


def test_no_raw_bytes_in_kernel_log(guest) -> None:
    log = guest.check("dmesg")
    # names from the demo policy and the garbage record never reach the log
    for needle in ("libc.so.6", "__arch_copy_to_user", "SRTO"):
        assert needle not in log


def test_unload_while_execs_run(guest) -> None:
    guest.check("/usr/bin/execloop 1500 /t/meta/hello-static > /tmp/loop.out 2>&1 & echo $! > /tmp/loop.pid")
    busy = 0
    for _ in range(15):
        # An exec in flight holds a reference on the module, so rmmod may
        # answer EAGAIN (busybox rmmod does not wait): retry until it goes.
        out = guest.check("for i in $(seq 500); do rmmod sorto_hook 2>/dev/null && echo tries=$i && exit 0; done; "
                          "exit 1")
        busy += int(out.split("tries=")[1].split()[0]) - 1
        guest.check("insmod /lib/modules/sorto_hook.ko")
    guest.check("while kill -0 $(cat /tmp/loop.pid) 2>/dev/null; do sleep 0.2; done", timeout=600)
    assert "failed=0" in guest.check("cat /tmp/loop.out")
    print(f"rmmod found the module busy {busy} times")
    assert not guest.kernel_problems()
    guest.check(f"echo 1 > {DBG}/clear")
    delta, _ = execstat(guest, "/t/meta/hello-static")
    assert delta.get("decoded_ok") == 1


def test_boot_parameter_turns_hook_off(guest_art, payload, tmp_path) -> None:
    with boot(guest_art, payload, tmp_path / "console-off.log", append="elf_hook=off") as g:
        g.check("insmod /lib/modules/sorto_hook.ko")
        st = hookfs.parse_stats(g.check(f"cat {DBG}/stats"))
        assert st["enabled"] == 0
        out = g.check("/t/meta/hello-static a")
        assert out.strip() == "hello /t/meta/hello-static a"
        st = hookfs.parse_stats(g.check(f"cat {DBG}/stats"))
        assert st["execs_seen"] == 0 and st["kernel_checked"] == 0, st
        assert hookfs.parse_records(g.check(f"cat {DBG}/records")) == []
        assert not g.kernel_problems()
