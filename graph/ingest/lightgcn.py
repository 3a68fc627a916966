"""The LightGCN/NGCF split format: ``train.txt`` and ``test.txt`` (optionally ``valid.txt``).

Each line is ``user item item ...`` (space-separated ids). The split is the source's own and
is kept. ``user_list.txt``/``item_list.txt`` (``org_id remap_id``), when present, give each
remapped id its original id, stored as the item's text.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from workbench.graph.ingest.formats import FormatSpec, register_format
from workbench.graph.ingest.source import IngestError, SourceData, finish_interactions, read_text

SPLIT_FILES = {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"}


def read_adjacency(path: Path, split: str | None, integer_ids: bool = True) -> pl.DataFrame:
    """One ``user item item ...`` file as (user_key, item_key, split, file, line) rows.

    With ``integer_ids`` every id must parse as an integer (the remapped-id formats)."""
    text = read_text(path)
    lines = pl.Series("raw", text.splitlines())
    frame = (
        pl.DataFrame({"raw": lines})
        .with_columns((pl.int_range(pl.len()) + 1).alias("line"))
        .filter(pl.col("raw").str.strip_chars() != "")
        .with_columns(pl.col("raw").str.strip_chars().str.split(" ").alias("ids"))
    )
    bad = frame.filter(pl.col("ids").list.len() < 2)
    if bad.height:
        raise IngestError(path, "expected `user item [item ...]`", line=int(bad["line"][0]))
    frame = frame.select(
        pl.col("line"),
        pl.col("ids").list.first().alias("user_key"),
        pl.col("ids").list.slice(1).alias("item_key"),
    ).explode("item_key").filter(pl.col("item_key") != "")
    for col in ("user_key", "item_key") if integer_ids else ():
        non_int = frame[col].cast(pl.Int64, strict=False).is_null()
        if non_int.any():
            row = int(non_int.arg_max())
            raise IngestError(path, f"id {frame[col][row]!r} is not an integer",
                              line=int(frame["line"][row]))
    frame = frame.with_columns(pl.lit(split, dtype=pl.String).alias("split"), pl.lit(str(path)).alias("file"))
    return finish_interactions(frame)


def read_id_list(path: Path) -> pl.DataFrame:
    text = read_text(path)
    try:
        frame = pl.read_csv(text.encode(), separator=" ", has_header=True,
                            schema_overrides={"org_id": pl.String, "remap_id": pl.String})
    except pl.exceptions.PolarsError as exc:
        raise IngestError(path, f"expected `org_id remap_id` rows: {exc}") from exc
    if {"org_id", "remap_id"} - set(frame.columns):
        raise IngestError(path, "header must be `org_id remap_id`", line=1)
    return frame


def read_lightgcn(directory: Path) -> SourceData:
    if not (directory / "train.txt").exists():
        raise IngestError(directory, "no train.txt here (LightGCN format needs train.txt and "
                                     "test.txt)")
    files, parts = [], []
    for split, name in SPLIT_FILES.items():
        path = directory / name
        if path.exists():
            files.append(path)
            parts.append(read_adjacency(path, split))
    if len(parts) < 2:
        raise IngestError(directory, "found train.txt but no test.txt")
    source = SourceData(format="lightgcn", interactions=pl.concat(parts), files=files)
    item_list = directory / "item_list.txt"
    if item_list.exists():
        ids = read_id_list(item_list)
        source.files.append(item_list)
        source.items = ids.select(
            pl.col("remap_id").alias("item_key"),
            pl.lit(None, dtype=pl.String).alias("title"),
            pl.struct(pl.col("org_id")).struct.json_encode().alias("text"),
        )
    return source


register_format(FormatSpec('lightgcn', 'LightGCN/NGCF split: train.txt, test.txt (+ valid.txt, item_list.txt)',
                           detect=lambda p: p.is_dir() and (p / "train.txt").exists(),
                           read=lambda path, columns: read_lightgcn(path)))
