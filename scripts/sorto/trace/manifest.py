"""The output folder of ``sorto trace``: built beside the target, renamed into place when complete."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import SortoError


def sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks (traces can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OutDir:
    """A temporary sibling of ``final`` that becomes ``final`` on ``commit()``.

    ``final`` must not exist or be an empty folder: a trace is never merged
    into an older one.  Until ``commit()`` nothing appears at ``final``; on
    an exception the temporary folder is removed.
    """

    def __init__(self, final: Path) -> None:
        self.final = Path(final)
        if self.final.exists() and (not self.final.is_dir() or any(self.final.iterdir())):
            raise SortoError(f"{self.final}: exists and is not an empty folder")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", dir=self.final.parent))
        self.path.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        self.files: list[str] = []

    def write_text(self, name: str, text: str) -> Path:
        p = self.path / name
        p.write_text(text)
        self.files.append(name)
        return p

    def file_list(self) -> list[dict]:
        return [{"name": n, "bytes": (self.path / n).stat().st_size, "sha256": sha256(self.path / n)}
                for n in sorted(self.files)]

    def commit(self, manifest: dict) -> Path:
        """Write manifest.json (temporary file + rename), then move the folder into place."""
        manifest = {**manifest, "files": self.file_list()}
        tmp = self.path / ".manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, self.path / "manifest.json")
        if self.final.exists():
            self.final.rmdir()  # empty, checked in __init__
        os.rename(self.path, self.final)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
