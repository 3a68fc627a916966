"""RecBole atomic files: ``NAME.inter``, ``NAME.item``, ``NAME.user`` with typed headers.

The header names each column with its type, ``user_id:token  rating:float  class:token_seq``.
Fields are tab-separated; a field may be double-quoted (Amazon titles hold newlines).
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from workbench.graph.ingest.formats import FormatSpec, register_format
from workbench.graph.ingest.source import (IngestError, SourceData, cast_column,
                                           check_records, finish_interactions, json_of,
                                           ragged_line, read_text)

TITLE_COLUMNS = ("title", "movie_title", "name", "item_name")
TIME_COLUMNS = ("timestamp", "ts", "time")


RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")


def read_atomic(path: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """Read one atomic file: every column as text under its bare name, and each column's
    declared type (checked to be one of RecBole's). Rows with another field count than the
    header are an error naming their line."""
    text = read_text(path)
    header = text.split("\n", 1)[0].rstrip("\r").split("\t")
    names, types = [], {}
    for col in header:
        if ":" not in col:
            raise IngestError(path, f"header field {col!r} lacks a type (expected name:type, "
                                    f"e.g. user_id:token)", line=1)
        name, kind = col.rsplit(":", 1)
        if kind not in RECBOLE_TYPES:
            raise IngestError(path, f"unknown type {kind!r}; RecBole's types are "
                                    f"{', '.join(RECBOLE_TYPES)}", line=1, column=name)
        names.append(name)
        types[name] = kind
    if len(set(names)) != len(names):
        raise IngestError(path, "duplicate column names in the header", line=1)
    check_records(text, "\t", len(names), path)
    try:
        frame = pl.read_csv(
            io.StringIO(text), separator="\t", quote_char='"', has_header=True,
            new_columns=names, schema_overrides={n: pl.String for n in names},
            infer_schema=False, raise_if_empty=True,
        )
    except pl.exceptions.PolarsError as exc:
        raise IngestError(path, f"malformed row, expected {len(names)} tab-separated fields "
                                f"({str(exc).splitlines()[0]})",
                          line=ragged_line(text, "\t", len(names))) from exc
    return frame, types


def _require(frame: pl.DataFrame, types: dict[str, str], path: Path, column: str,
             kind: str) -> None:
    """A column the workbench maps must be present, of its RecBole type, and never empty."""
    if column not in frame.columns:
        raise IngestError(path, f"missing required column {column!r} "
                                f"(found: {', '.join(frame.columns)})")
    if types[column] != kind:
        raise IngestError(path, f"{column} is declared :{types[column]}, and the workbench "
                                f"reads it as :{kind}; change the header to {column}:{kind}",
                          line=1, column=column)
    nulls = frame[column].is_null() | (frame[column].str.strip_chars() == "")
    if nulls.any():
        raise IngestError(path, "empty value", line=int(nulls.arg_max()) + 2, column=column)


def _optional(frame: pl.DataFrame, types: dict[str, str], path: Path, column: str | None
              ) -> pl.DataFrame:
    """A mapped numeric column (rating, time): declared :float, read as numbers."""
    if column is None:
        return frame
    if types[column] != "float":
        raise IngestError(path, f"{column} is declared :{types[column]}, and the workbench "
                                f"reads it as a number; change the header to {column}:float",
                          line=1, column=column)
    return cast_column(frame, column, pl.Float64, path)


def _numbers_where_they_are(frame: pl.DataFrame, types: dict[str, str],
                            columns: list[str]) -> pl.DataFrame:
    """Unmapped ``float`` columns become numbers in the item/user text when every value
    reads as one; otherwise they stay text (metadata is never a reason to refuse a file)."""
    for column in columns:
        if types[column] != "float":
            continue
        cast = frame[column].str.strip_chars().cast(pl.Float64, strict=False)
        if cast.null_count() == frame[column].null_count():
            frame = frame.with_columns(cast.alias(column))
    return frame


def read_inter(path: Path) -> pl.DataFrame:
    frame, types = read_atomic(path)
    _require(frame, types, path, "user_id", "token")
    _require(frame, types, path, "item_id", "token")
    rating = "rating" if "rating" in frame.columns else None
    time_col = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    for column in (rating, time_col):  # unmapped columns are left as they are
        frame = _optional(frame, types, path, column)
    out = frame.select(
        pl.col("user_id").str.strip_chars().alias("user_key"),
        pl.col("item_id").str.strip_chars().alias("item_key"),
        *( [pl.col("rating").alias("rating")] if rating else [] ),
        *( [pl.col(time_col).alias("ts")] if time_col else [] ),
    ).with_columns(
        pl.lit(str(path)).alias("file"),
        (pl.int_range(pl.len()) + 2).alias("line"),
    )
    return finish_interactions(out)


def read_items(path: Path) -> pl.DataFrame:
    frame, types = read_atomic(path)
    _require(frame, types, path, "item_id", "token")
    title = next((c for c in TITLE_COLUMNS if c in frame.columns), None)
    rest = [c for c in frame.columns if c not in ("item_id", title)]
    frame = _numbers_where_they_are(frame, types, rest)
    return frame.select(
        pl.col("item_id").str.strip_chars().alias("item_key"),
        (pl.col(title) if title else pl.lit(None, dtype=pl.String)).alias("title"),
        json_of(frame, rest).alias("text"),
    )


def read_users(path: Path) -> pl.DataFrame:
    frame, types = read_atomic(path)
    _require(frame, types, path, "user_id", "token")
    rest = [c for c in frame.columns if c != "user_id"]
    frame = _numbers_where_they_are(frame, types, rest)
    return frame.select(
        pl.col("user_id").str.strip_chars().alias("user_key"),
        json_of(frame, rest).alias("attrs"),
    )


def read_recbole(directory: Path, name: str | None = None) -> SourceData:
    """Read ``directory/NAME.inter`` and, when present, ``NAME.item`` and ``NAME.user``."""
    if directory.is_file():
        directory, name = directory.parent, directory.stem
    inters = sorted(directory.glob(f"{name or '*'}.inter"))
    if not inters:
        raise IngestError(directory, "no RecBole .inter file here")
    if len(inters) > 1:
        raise IngestError(directory, "several .inter files: pass the one to ingest as the path")
    inter = inters[0]
    stem = inter.stem
    items_path, users_path = directory / f"{stem}.item", directory / f"{stem}.user"
    source = SourceData(format="recbole", interactions=read_inter(inter), files=[inter])
    if items_path.exists():
        source.items = read_items(items_path)
        source.files.append(items_path)
    if users_path.exists():
        source.users = read_users(users_path)
        source.files.append(users_path)
    return source


register_format(FormatSpec('recbole', 'RecBole atomic files: NAME.inter (+ NAME.item, NAME.user), typed headers',
                           detect=lambda p: (p.is_file() and p.suffix == ".inter") or (p.is_dir() and any(p.glob("*.inter"))),
                           read=lambda path, columns: read_recbole(path)))
