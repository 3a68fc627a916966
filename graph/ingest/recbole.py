"""RecBole atomic files: ``NAME.inter``, ``NAME.item``, ``NAME.user`` with typed headers.

The header names each column with its type, ``user_id:token  rating:float  class:token_seq``.
Fields are tab-separated; a field may be double-quoted (Amazon titles hold newlines).
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from workbench.graph.ingest.formats import FormatSpec, register_format
from workbench.graph.ingest.source import (IngestError, SourceData, cast_column, finish_interactions,
                                 json_of, ragged_line, read_text)

TITLE_COLUMNS = ("title", "movie_title", "name", "item_name")
TIME_COLUMNS = ("timestamp", "ts", "time")


def read_atomic(path: Path) -> pl.DataFrame:
    """Read one atomic file; columns are renamed to their bare names, all as strings
    except ``float`` columns, which are cast (with an error naming the bad row)."""
    text = read_text(path)
    header = text.split("\n", 1)[0].rstrip("\r").split("\t")
    names, types = [], {}
    for col in header:
        if ":" not in col:
            raise IngestError(path, f"header field {col!r} lacks a type (expected name:type, "
                                    f"e.g. user_id:token)", line=1)
        name, kind = col.rsplit(":", 1)
        names.append(name)
        types[name] = kind
    if len(set(names)) != len(names):
        raise IngestError(path, "duplicate column names in the header", line=1)
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
    for name, kind in types.items():
        if kind == "float":
            frame = cast_column(frame, name, pl.Float64, path)
    return frame


def _require(frame: pl.DataFrame, path: Path, column: str) -> None:
    if column not in frame.columns:
        raise IngestError(path, f"missing required column {column!r} "
                                f"(found: {', '.join(frame.columns)})")
    nulls = frame[column].is_null() | (frame[column].str.strip_chars() == "")
    if nulls.any():
        raise IngestError(path, "empty value or too few fields", line=int(nulls.arg_max()) + 2,
                          column=column)


def read_inter(path: Path) -> pl.DataFrame:
    frame = read_atomic(path)
    _require(frame, path, "user_id")
    _require(frame, path, "item_id")
    time_col = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    out = frame.select(
        pl.col("user_id").str.strip_chars().alias("user_key"),
        pl.col("item_id").str.strip_chars().alias("item_key"),
        *( [pl.col("rating").alias("rating")] if "rating" in frame.columns else [] ),
        *( [pl.col(time_col).alias("ts")] if time_col else [] ),
    ).with_columns(
        pl.lit(str(path)).alias("file"),
        (pl.int_range(pl.len()) + 2).alias("line"),
    )
    return finish_interactions(out)


def read_items(path: Path) -> pl.DataFrame:
    frame = read_atomic(path)
    _require(frame, path, "item_id")
    title = next((c for c in TITLE_COLUMNS if c in frame.columns), None)
    rest = [c for c in frame.columns if c not in ("item_id", title)]
    return frame.select(
        pl.col("item_id").str.strip_chars().alias("item_key"),
        (pl.col(title) if title else pl.lit(None, dtype=pl.String)).alias("title"),
        json_of(frame, rest).alias("text"),
    )


def read_users(path: Path) -> pl.DataFrame:
    frame = read_atomic(path)
    _require(frame, path, "user_id")
    rest = [c for c in frame.columns if c != "user_id"]
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
