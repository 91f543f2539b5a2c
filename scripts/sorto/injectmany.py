"""``sorto inject-many``: mark a whole tree of executables in one process.

An image build marks every executable it ships.  Running ``sorto inject``
once per file costs a Python start-up and its imports per file (about 300 ms,
85-90 % of the time), so the build layers (Yocto's class, Buildroot's
post-build script) hand the whole plan to this command instead: each
distinct policy is loaded and encoded once, every policy is checked before
the first file is touched (bad input leaves the tree as it was), and the
files are written by a pool of worker processes, one per CPU: besides its
``objcopy`` child each file costs a read of its sections with pyelftools
(the check of what objcopy wrote), pure Python that threads would serialise
on the GIL.

A plan is a text file (or ``-`` for stdin) with one ``BINARY<TAB>POLICY``
pair per line; relative paths are relative to the current directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import codec, elfsection, policy
from .errors import SortoError


@dataclass(frozen=True)
class Job:
    """One executable to mark with one policy."""

    binary: Path
    policy: Path


def parse_plan(text: str, origin: str) -> list[Job]:
    """Read ``BINARY<TAB>POLICY`` lines; a bad line names ``origin`` and its number."""
    jobs = []
    seen: dict[Path, int] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        fields = raw.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise SortoError(f"{origin}:{no}: expected BINARY<TAB>POLICY, got {raw[:200]!r}")
        binary = Path(fields[0])
        if binary in seen:
            raise SortoError(f"{origin}:{no}: {binary} is already planned at line {seen[binary]}")
        seen[binary] = no
        jobs.append(Job(binary, Path(fields[1])))
    return jobs


def encode_policies(jobs: Iterable[Job]) -> dict[Path, bytes]:
    """Load and encode each distinct policy once; the first failure names the policy and a file it is for."""
    records: dict[Path, bytes] = {}
    for job in jobs:
        if job.policy in records:
            continue
        try:
            records[job.policy] = codec.encode(policy.load(job.policy))
        except SortoError as exc:
            raise SortoError(f"policy for {job.binary}: {exc}") from exc
    return records


def default_jobs() -> int:
    """Workers: one per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run(jobs: list[Job], objcopy: str | None = None, workers: int | None = None) -> list[Path]:
    """Mark every job's binary; return the written paths in plan order.

    All policies are encoded before any file is written.  Files are written
    in parallel, each atomically (``elfsection.write_section``); on a failure
    the remaining files are still attempted, and the error of the first
    failing plan line is raised, so one bad file does not hide behind another
    and every file is left whole, marked or as it was.
    """
    records = encode_policies(jobs)
    workers = min(workers or default_jobs(), len(jobs)) or 1
    errors: list[SortoError] = []
    done: list[Path] = []
    if workers == 1:
        results = [_call(job, records[job.policy], objcopy) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_call, job, records[job.policy], objcopy) for job in jobs]
            results = [f.result() for f in futures]
    for res in results:
        if isinstance(res, SortoError):
            errors.append(res)
        else:
            done.append(res)
    if errors:
        more = f" (and {len(errors) - 1} more failed)" if len(errors) > 1 else ""
        raise SortoError(f"{errors[0]}{more}") from errors[0]
    return done


def _call(job: Job, record: bytes, objcopy: str | None) -> Path | SortoError:
    """One file, in a worker: a failure comes back as a value (it pickles; a traceback need not)."""
    try:
        return elfsection.write_section(job.binary, record, objcopy=objcopy)
    except SortoError as exc:
        return SortoError(str(exc))
