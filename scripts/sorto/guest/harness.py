"""Boot the test guest under QEMU and run commands on its serial console.

Modelled on oeqa's qemurunner and labgrid's ShellDriver: the raw console is
logged to a file from the first byte; booting has one deadline, commands have
short timeouts; each command is framed by a marker that the guest prints
before and after it together with the exit status, so output and status are
exact even when the kernel or a program writes to the console.  On failure the
exception carries the last console lines and the path of the log.

The guest's /init reads commands line by line with echo off (see init.sh), so
what comes back is only what commands print.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pexpect

from ..errors import SortoError

READY = re.compile(rb"SORTO-GUEST-READY (\S+)\r*\n")
# Signs that the boot went wrong: stop waiting at once instead of at the deadline.
BOOT_FAILED = re.compile(rb"Kernel panic[^\r\n]*|built-in shell \(ash\)|Unable to handle kernel[^\r\n]*")
BAD_KERNEL = re.compile(r"Oops|BUG:|WARNING:|KASAN|Unable to handle|Kernel panic|general protection|UBSAN")


class GuestError(SortoError):
    """Boot or command failure; the message holds the console tail and log path."""


class Guest:
    """One running QEMU guest."""

    def __init__(self, zimage: Path, initramfs: Path | list[Path], log_path: Path, append: str = "",
                 smp: int = 2, memory: int = 256, icount: bool = False, boot_timeout: float = 180.0,
                 extra_args: list[str] | None = None, machine: str = "virt", dtb: Path | None = None) -> None:
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        parts = initramfs if isinstance(initramfs, list) else [initramfs]
        if len(parts) > 1:
            # The kernel unpacks concatenated cpio archives in order, so test
            # files ride on top of the cached base image without rebuilding it.
            joined = self.log_path.with_suffix(".initrd")
            with joined.open("wb") as out:
                for p in parts:
                    with open(p, "rb") as src:
                        shutil.copyfileobj(src, out)
            initrd = joined
        else:
            initrd = Path(parts[0])
        cmdline = f"console=ttyAMA0 loglevel=3 panic=-1 {append}".strip()
        self.argv = ["qemu-system-arm", "-M", machine, "-cpu", "cortex-a15", "-smp", str(smp),
                     "-m", str(memory), "-nographic", "-no-reboot", "-nic", "none",
                     "-kernel", str(zimage), "-initrd", str(initrd), "-append", cmdline]
        if dtb:
            self.argv += ["-dtb", str(dtb)]
        if machine.startswith("vexpress"):
            # The board's PL041 sound chip: without a silent backend QEMU
            # floods stderr with ALSA errors.
            self.argv += ["-audiodev", "none,id=snd0", "-global", "pl041.audiodev=snd0"]
        if icount:
            self.argv += ["-icount", "shift=0,sleep=off"]
        self.argv += extra_args or []
        self._log = self.log_path.open("wb")
        self._log.write(("# " + " ".join(self.argv) + "\n").encode())
        self._log.flush()
        self._seq = itertools.count(1)
        self.release = ""
        self.child = pexpect.spawn(self.argv[0], self.argv[1:], timeout=boot_timeout, logfile=None)
        self.child.logfile_read = self._log
        self.child.delaybeforesend = None
        try:
            if self.child.expect([READY, BOOT_FAILED], timeout=boot_timeout) == 1:
                failed = self.child.match.group(0).decode(errors="replace")
                self.child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=2)  # let the log catch up
                tail = self.tail()
                self.close()
                raise GuestError(f"guest boot failed ({failed}): /init did not start\n{tail}")
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            what = "timed out" if isinstance(exc, pexpect.TIMEOUT) else "QEMU exited"
            tail = self.tail()
            self.close()
            raise GuestError(f"guest boot {what} after {boot_timeout:.0f} s\n{tail}") from None
        self.release = self.child.match.group(1).decode()

    def tail(self, lines: int = 30) -> str:
        """Return the last console lines and the log path, for assertion messages."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_bytes().decode(errors="replace").replace("\r", "")
        last = "\n".join(text.splitlines()[-lines:])
        return f"--- last console lines ({self.log_path}) ---\n{last}\n--- end ---"

    def run(self, cmd: str, timeout: float = 60.0) -> tuple[int, str]:
        """Run ``cmd`` in a guest subshell; return (exit status, combined output)."""
        n = next(self._seq)
        # The markers are split with quotes in what we send, so only the
        # guest's own output can match them.
        begin, end = f"SORTO-B-{n}", f"SORTO-E-{n}"
        line = f"echo 'SORTO-B'-{n}; ( {cmd} ) </dev/null 2>&1; echo \"SORTO-E\"-{n}-$?"
        if "\n" in cmd:
            raise ValueError("one line per command")
        self.child.sendline(line)
        try:
            # Both the guest tty and the host pty may add a CR: accept \r*\n.
            self.child.expect(re.compile(rf"{begin}\r*\n".encode()), timeout=timeout)
            self.child.expect(re.compile(rf"{end}-(\d+)\r*\n".encode()), timeout=timeout)
        except pexpect.TIMEOUT:
            raise GuestError(f"command timed out after {timeout:.0f} s: {cmd}\n{self.tail()}") from None
        except pexpect.EOF:
            raise GuestError(f"guest died during: {cmd}\n{self.tail()}") from None
        out = re.sub(rb"\r+\n", b"\n", self.child.before).decode(errors="replace")
        return int(self.child.match.group(1)), out

    def check(self, cmd: str, timeout: float = 60.0) -> str:
        """Run ``cmd`` and return its output; raise if it exits non-zero."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise GuestError(f"command failed with status {rc}: {cmd}\n{out}\n{self.tail()}")
        return out

    def kernel_problems(self, known: tuple[str, ...] = ()) -> list[str]:
        """Return dmesg lines reporting an Oops, BUG, WARNING, KASAN report and the like.

        ``known``: substrings of problem lines a caller has explained and accepts
        (for instance a warning the stock kernel prints for a boot option).
        """
        _, out = self.run("dmesg")
        return [ln for ln in out.splitlines() if BAD_KERNEL.search(ln) and not any(k in ln for k in known)]

    def close(self) -> None:
        """Power the guest off (or kill QEMU) and close the log."""
        if self.child.isalive():
            try:
                self.child.sendline("poweroff -f")
                self.child.expect(pexpect.EOF, timeout=10)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError):
                pass
            if self.child.isalive():
                self.child.terminate(force=True)
        self.child.close(force=True)
        if not self._log.closed:
            self._log.close()

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
