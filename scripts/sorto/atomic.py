"""Write a file so that it appears complete or not at all.

Why: a policy or report that is half written (disk full, Ctrl-C, a crash in
the middle of rendering) must never be mistaken for a finished one.  The
bytes go to a temporary file in the destination's folder (same file system,
so the rename is atomic) and ``os.replace`` moves it into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import SortoError


def write_atomic(path: str | Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace``."""
    dest = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise SortoError(f"{dest}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest
