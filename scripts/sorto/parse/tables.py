"""Table writers for ``sorto parse``: CSV (stdlib) and Parquet (pyarrow, optional).

Why a writer object instead of building a table in memory: traces grow to
hundreds of megabytes, and the parse must keep memory flat.  Rows go to disk
as they come (CSV) or in bounded batches (Parquet).  Every output is written
to a temporary file beside its destination and renamed into place only when
complete, so a crash or a malformed line never leaves a half-written table.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import SortoError

#: Column type names used in the schemas of every parser.
COLUMN_TYPES = ("str", "int", "float", "bool")

Column = tuple[str, str]

PARQUET_BATCH = 65536


class TableWriter:
    """Write rows of a fixed schema atomically as CSV or Parquet.

    Use as a context manager: on a clean exit the temporary file is renamed
    to ``path``; on an exception it is removed and ``path`` stays untouched.
    """

    def __init__(self, path: Path, columns: Sequence[Column], fmt: str = "csv") -> None:
        if fmt not in ("csv", "parquet"):
            raise SortoError(f"unknown output format {fmt!r} (use csv or parquet)")
        self.path = Path(path)
        self.columns = list(columns)
        self._has_bool = any(t == "bool" for _name, t in self.columns)
        self.fmt = fmt
        self.rows = 0
        self._tmp: str | None = None
        self._fh: Any = None
        self._csv: Any = None
        self._pq: Any = None
        self._batch: list[list[Any]] = []

    def __enter__(self) -> TableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        if self.fmt == "csv":
            self._fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh, lineterminator="\n")
            self._csv.writerow([name for name, _ in self.columns])
        else:
            os.close(fd)
            try:
                import pyarrow as pa  # noqa: F401  (optional dependency)
                import pyarrow.parquet as pq
            except ImportError as exc:
                os.unlink(self._tmp)
                raise SortoError("--format parquet needs pyarrow: pip install 'sorto[parquet]'") from exc
            self._pq = pq.ParquetWriter(self._tmp, self._schema())
            self._batch = [[] for _ in self.columns]
        return self

    def _schema(self) -> Any:
        import pyarrow as pa

        types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
        return pa.schema([(name, types[t]) for name, t in self.columns])

    def write(self, row: Sequence[Any]) -> None:
        """Append one row (a sequence in column order; None is a missing value)."""
        self.rows += 1
        if self._csv is not None:
            # csv writes None as an empty field; only booleans need rewriting.
            if self._has_bool:
                row = [_csv_value(v) for v in row]
            self._csv.writerow(row)
            return
        for col, v in zip(self._batch, row):
            col.append(v)
        if len(self._batch[0]) >= PARQUET_BATCH:
            self._flush()

    def write_csv_bytes(self, data: Any, rows: int) -> None:
        """Append ``rows`` rows already rendered as CSV bytes (UTF-8, ``\n``-terminated).

        The fast path (``fast.py``) renders rows itself, many thousands at a
        time; going through ``csv.writerow`` per row was 42% of a parse.
        """
        if self._csv is None:
            raise SortoError("rendered CSV rows can only go to a CSV table")
        self._fh.flush()
        self._fh.buffer.write(data)
        self.rows += rows

    def render_csv(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """The CSV bytes ``write`` would append for ``rows`` (for rows the fast path leaves to Python)."""
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\n")
        for row in rows:
            w.writerow([_csv_value(v) for v in row] if self._has_bool else row)
        return buf.getvalue().encode("utf-8")

    def _flush(self) -> None:
        import pyarrow as pa

        if self._batch and self._batch[0]:
            self._pq.write_table(pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(self._batch, self._schema())], schema=self._schema()))
            self._batch = [[] for _ in self.columns]

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        assert self._tmp is not None
        try:
            if self._fh is not None:
                self._fh.close()
            if self._pq is not None:
                if et is None:
                    self._flush()
                self._pq.close()
            if et is None:
                os.replace(self._tmp, self.path)
                self._tmp = None
        finally:
            if self._tmp is not None and os.path.exists(self._tmp):
                os.unlink(self._tmp)


def _csv_value(v: Any) -> Any:
    """Render booleans as lowercase words so CSV readers in any language agree."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return v
