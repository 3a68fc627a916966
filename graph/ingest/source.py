"""What every ingest format produces: the same polars frames, whatever the file layout.

``interactions``: user_key (str), item_key (str), rating (f64|null), ts (f64|null),
split (str|null: given by the source, else assigned later), file (str), line (i64).
``items``: item_key, title (str|null), text (JSON str|null: all other text fields).
``users``: user_key, attrs (JSON str|null).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from workbench.errors import IngestError as _IngestError


class IngestError(_IngestError):
    """Bad input: names the file, and the line/row and column where it can."""

    def __init__(self, file: str | Path, message: str, line: int | None = None,
                 column: str | None = None) -> None:
        where = str(file)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.file, self.line, self.column = str(file), line, column


INTERACTION_SCHEMA = {
    "user_key": pl.String, "item_key": pl.String, "rating": pl.Float64, "ts": pl.Float64,
    "split": pl.String, "file": pl.String, "line": pl.Int64,
}


@dataclass
class SourceData:
    """One dataset as read from its files, before filtering, splitting and indexing."""

    format: str
    interactions: pl.DataFrame
    items: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def has_given_split(self) -> bool:
        return self.interactions["split"].null_count() == 0

    def source_hash(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.files):
            digest.update(path.name.encode())
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()


def read_text(path: Path) -> str:
    """Read a whole file as UTF-8, with a clear error naming the line of a bad byte."""
    if not path.exists():
        raise IngestError(path, "file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IngestError(path, f"not valid UTF-8 (byte {exc.start}); re-encode the file as "
                                f"UTF-8", line=line) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise IngestError(path, "the file is empty")
    return text


def ragged_line(text: str, separator: str, n_fields: int) -> int | None:
    """1-based line where the first record whose field count differs from the header's
    starts, quoting understood (a quoted field may hold the separator or a newline)."""
    found = ragged_record(text, separator, n_fields)
    return found[0] if found else None


def ragged_record(text: str, separator: str, n_fields: int) -> tuple[int, int] | None:
    """(line where it starts, its field count) of the first record with other than
    ``n_fields`` fields; blank lines are skipped. None when every record fits."""
    reader = csv.reader(io.StringIO(text), delimiter=separator, quotechar='"',
                        doublequote=True, strict=False)
    start = 1
    try:
        for record in reader:
            if record and len(record) != n_fields:
                return start, len(record)
            start = reader.line_num + 1
    except csv.Error:
        return start, -1
    return None


def check_records(text: str, separator: str, n_fields: int, path: Path) -> None:
    """A row with fewer (or more) fields than the header is an error naming its line, not a
    row of NULLs."""
    found = ragged_record(text, separator, n_fields)
    if found is not None:
        line, got = found
        what = "an unreadable quoted field" if got < 0 else f"{got} field(s)"
        raise IngestError(path, f"the header has {n_fields} fields and this row {what}",
                          line=line)


def finish_interactions(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing optional columns and fix the column order and types."""
    for name, dtype in INTERACTION_SCHEMA.items():
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(name))
    return frame.select([pl.col(n).cast(t) for n, t in INTERACTION_SCHEMA.items()])


def json_of(frame: pl.DataFrame, columns: list[str]) -> pl.Expr:
    """A JSON-object string of the given columns per row (null when there are none)."""
    if not columns:
        return pl.lit(None, dtype=pl.String)
    return pl.struct([pl.col(c) for c in columns]).struct.json_encode()


def cast_column(frame: pl.DataFrame, column: str, dtype: pl.DataType, file: Path,
                line_offset: int = 2) -> pl.DataFrame:
    """Cast a string column, raising an IngestError naming the first value that fails."""
    cast = frame[column].str.strip_chars().cast(dtype, strict=False)
    bad = cast.is_null() & frame[column].is_not_null() & (frame[column].str.strip_chars() != "")
    if bad.any():
        row = int(bad.arg_max())
        raise IngestError(file, f"cannot read {frame[column][row]!r} as {dtype}",
                          line=row + line_offset, column=column)
    return frame.with_columns(cast.alias(column))
