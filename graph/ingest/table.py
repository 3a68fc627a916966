"""Any CSV or Parquet file, with a column mapping.

    ColumnMap(user="userId", item="movieId", rating="rating", timestamp="timestamp")

An optional item table (CSV/Parquet) gives item text: ``item_id`` column, a ``title`` column
and any other ``text`` columns to keep for the LLM jobs.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
from pydantic import BaseModel

from workbench.graph.ingest.formats import FormatSpec, register_format
from workbench.graph.ingest.source import (IngestError, SourceData, cast_column,
                                           check_records, finish_interactions, json_of,
                                           ragged_line, read_text)


class ColumnMap(BaseModel):
    """Which source columns hold what. Names are the file's own column names."""

    user: str = "user_id"  # user id column
    item: str = "item_id"  # item id column
    rating: str | None = None  # optional explicit rating column
    timestamp: str | None = None  # optional time column (numeric)
    item_file: Path | None = None  # optional item table (CSV/Parquet)
    item_id: str = "item_id"  # item id column in the item table
    title: str | None = "title"  # title column in the item table
    text: list[str] = []  # other item text columns to keep (genres, description, brand...)


def read_frame(path: Path) -> pl.DataFrame:
    """A CSV (header row) or Parquet file, every column as read (CSV columns as strings,
    Parquet columns with their own types: see :func:`as_text` and :func:`as_number`)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        if not path.exists():
            raise IngestError(path, "file not found")
        try:
            frame = pl.read_parquet(path)
        except pl.exceptions.PolarsError as exc:
            raise IngestError(path, f"not a readable Parquet file: {exc}") from exc
        if frame.height == 0:
            raise IngestError(path, "the file is empty")
        return frame
    if suffix not in (".csv", ".tsv"):
        raise IngestError(path, "expected a .csv, .tsv or .parquet file")
    text = read_text(path)
    sep = "\t" if suffix == ".tsv" else ","
    n_fields = len(next(csv.reader(io.StringIO(text), delimiter=sep)))
    check_records(text, sep, n_fields, path)  # short rows would read as NULLs
    try:
        return pl.read_csv(text.encode(), separator=sep, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise IngestError(path, f"malformed row ({str(exc).splitlines()[0]})",
                          line=ragged_line(text, sep, n_fields)) from exc


def as_text(frame: pl.DataFrame, path: Path, column: str) -> pl.DataFrame:
    """A mapped id or title column as text: strings as they are, integers written out;
    anything else (floats, lists, structs) is refused with the column's type."""
    dtype = frame.schema[column]
    if dtype == pl.String:
        return frame
    if dtype.is_integer() or dtype == pl.Categorical or dtype == pl.Enum:
        return frame.with_columns(pl.col(column).cast(pl.String))
    raise IngestError(path, f"holds {dtype}; this column must hold text or integers",
                      column=column)


def as_number(frame: pl.DataFrame, path: Path, column: str) -> pl.DataFrame:
    """A mapped rating or time column as Float64: numbers as they are, text parsed (naming
    the first value that is not a number), datetimes as seconds since the epoch."""
    dtype = frame.schema[column]
    if dtype == pl.String:
        return cast_column(frame, column, pl.Float64, path)
    if dtype.is_numeric():
        return frame.with_columns(pl.col(column).cast(pl.Float64))
    if dtype in (pl.Datetime, pl.Date) or isinstance(dtype, pl.Datetime):
        return frame.with_columns(pl.col(column).dt.epoch("s").cast(pl.Float64))
    raise IngestError(path, f"holds {dtype}; this column must hold numbers", column=column)


def text_of(frame: pl.DataFrame, column: str) -> pl.Expr:
    """Any item text column as a JSON-friendly value: lists joined with ", "."""
    dtype = frame.schema[column]
    if isinstance(dtype, (pl.List, pl.Array)):
        return pl.col(column).cast(pl.List(pl.String)).list.join(", ")
    if dtype == pl.String or dtype.is_numeric():
        return pl.col(column)
    return pl.col(column).cast(pl.String)


def _need(frame: pl.DataFrame, path: Path, *columns: str | None) -> None:
    for col in columns:
        if col is not None and col not in frame.columns:
            raise IngestError(path, f"missing column {col!r} (found: {', '.join(frame.columns)})",
                              column=col)


def read_table(path: Path, columns: ColumnMap) -> SourceData:
    frame = read_frame(path)
    _need(frame, path, columns.user, columns.item, columns.rating, columns.timestamp)
    for col in (columns.user, columns.item):  # unmapped columns are never looked at
        frame = as_text(frame, path, col)
        empty = frame[col].is_null() | (frame[col].str.strip_chars() == "")
        if empty.any():
            raise IngestError(path, "empty id", line=int(empty.arg_max()) + 2, column=col)
    for col in (columns.rating, columns.timestamp):
        if col is not None:
            frame = as_number(frame, path, col)
    inter = frame.select(
        pl.col(columns.user).str.strip_chars().alias("user_key"),
        pl.col(columns.item).str.strip_chars().alias("item_key"),
        *([pl.col(columns.rating).alias("rating")] if columns.rating else []),
        *([pl.col(columns.timestamp).alias("ts")] if columns.timestamp else []),
    ).with_columns(pl.lit(str(path)).alias("file"), (pl.int_range(pl.len()) + 2).alias("line"))
    source = SourceData(format="table", interactions=finish_interactions(inter), files=[path])
    if columns.item_file is not None:
        items = read_frame(columns.item_file)
        _need(items, columns.item_file, columns.item_id, columns.title, *columns.text)
        items = as_text(items, columns.item_file, columns.item_id)
        if columns.title:
            items = as_text(items, columns.item_file, columns.title)
        items = items.with_columns(text_of(items, c).alias(c) for c in columns.text)
        source.items = items.select(
            pl.col(columns.item_id).str.strip_chars().alias("item_key"),
            (pl.col(columns.title) if columns.title else pl.lit(None, pl.String)).alias("title"),
            json_of(items, columns.text).alias("text"),
        )
        source.files.append(columns.item_file)
    return source


register_format(FormatSpec('table', 'any CSV/TSV/Parquet table, with a column mapping',
                           detect=lambda p: p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".parquet"),
                           read=read_table))
