"""Ingest: read a source, check it, filter, split, index, and write it in one transaction.

    info = ingest(store, IngestOptions(path=Path("data/ml-100k")))

A malformed source raises :class:`IngestError` before anything is written; any failure while
writing rolls the whole ingest back, so the store is exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from pydantic import BaseModel

from workbench.export import import_export, is_export
from workbench.graph.ingest.default import movielens_100k
from workbench.graph.ingest.formats import detect_format, format_spec
from workbench.graph.ingest.source import IngestError, SourceData
from workbench.graph.ingest.table import ColumnMap
from workbench.graph.splits import SplitConfig, assign_split
from workbench.store import DatasetInfo, Store

class IngestOptions(BaseModel):
    """Everything that decides what an ingest writes; recorded with the dataset."""

    path: Path | None = None  # None: the bundled default, MovieLens-100K
    format: str = "auto"  # a registered format, or "auto": detected from the files
    name: str | None = None  # dataset name in the store; default: folder or file name
    split: SplitConfig | None = None  # default: the source's own split, else random 0.8/0.1/0.1
    min_rating: float | None = None  # implicit feedback: keep rating >= this (None: keep all)
    k_core: int = 0  # keep users and items with >= k interactions, iterated (0: off)
    dedupe: bool = False  # duplicate (user, item) pairs: error (False) or keep the latest
    columns: ColumnMap = ColumnMap()  # for format "table"
    replace: bool = False  # replace an existing dataset of the same name


def read_source(path: Path, fmt: str, columns: ColumnMap) -> SourceData:
    fmt = detect_format(path) if fmt == "auto" else fmt
    return format_spec(fmt).read(path, columns)


# -- checks and filters --------------------------------------------------------------------
def check_duplicates(inter: pl.DataFrame, dedupe: bool) -> pl.DataFrame:
    dup = inter.filter(pl.len().over("user_key", "item_key") > 1)
    if dup.height == 0:
        return inter
    if dedupe:
        order = ["ts", "line"] if inter["ts"].null_count() == 0 else ["line"]
        return inter.sort(order).unique(["user_key", "item_key"], keep="last", maintain_order=True)
    first = dup.sort("line").row(0, named=True)
    same = dup.filter((pl.col("user_key") == first["user_key"])
                      & (pl.col("item_key") == first["item_key"]))
    lines = ", ".join(f"{Path(f).name}:{ln}" for f, ln in zip(same["file"], same["line"]))
    raise IngestError(first["file"], f"duplicate (user, item) pair ({first['user_key']}, "
                      f"{first['item_key']}) at {lines}; {dup.height} rows are duplicates. "
                      "Pass --dedupe to keep the latest of each", line=first["line"])


def check_items(inter: pl.DataFrame, items: pl.DataFrame | None, item_file: Path | None):
    if items is None:
        return
    dup = items.filter(pl.col("item_key").is_duplicated())
    if dup.height:
        raise IngestError(item_file or "items", f"item id {dup['item_key'][0]!r} appears "
                          "more than once in the item file")
    unknown = inter.join(items.select("item_key"), on="item_key", how="anti")
    if unknown.height:
        row = unknown.sort("line").row(0, named=True)
        raise IngestError(row["file"], f"unknown item {row['item_key']!r}: not in the item "
                          f"file ({unknown.height} interactions name unknown items)",
                          line=row["line"])


def implicit(inter: pl.DataFrame, min_rating: float | None) -> pl.DataFrame:
    if min_rating is None:
        return inter
    if inter["rating"].null_count():
        raise IngestError(inter["file"][0], "--min-rating needs a rating on every interaction")
    return inter.filter(pl.col("rating") >= min_rating)


def k_core(inter: pl.DataFrame, k: int) -> pl.DataFrame:
    """Iteratively drop users and items with fewer than ``k`` interactions."""
    if k <= 1:
        return inter
    while True:
        kept = inter.filter((pl.len().over("user_key") >= k) & (pl.len().over("item_key") >= k))
        if kept.height == inter.height:
            return kept
        inter = kept


def _sort_keys(keys: pl.Series) -> pl.Series:
    """Numeric order when every key is an integer (keeps remapped ids), else lexical."""
    as_int = keys.cast(pl.Int64, strict=False)
    if as_int.null_count() == 0:
        return keys.gather(as_int.arg_sort())
    return keys.sort()


def index(keys: pl.Series, name: str) -> pl.DataFrame:
    keys = _sort_keys(keys.unique())
    return pl.DataFrame({f"{name}_key": keys,
                         f"{name}_idx": pl.int_range(len(keys), eager=True).cast(pl.Int32)})


# -- the whole ingest ----------------------------------------------------------------------
def ingest(store: Store, options: IngestOptions, cache_dir: Path) -> DatasetInfo:
    """Read a source into the store in one transaction (a workbench export folder is read
    back whole: :func:`workbench.export.import_export`)."""
    if is_export(options.path):
        return import_export(store, options.path, options.name)
    path = options.path or movielens_100k(cache_dir)
    name = options.name or (path.stem if path.is_file() else path.name)
    source = read_source(path, options.format, options.columns)
    split = options.split or SplitConfig(method="given" if source.has_given_split else "random")
    recorded = options.model_dump(mode="json", exclude={"path", "name", "replace"})
    recorded["split"] = split.model_dump(mode="json")
    source_hash = source.source_hash()
    existing = store.con.execute("SELECT dataset_id, source_hash, options FROM datasets "
                                 "WHERE name = ?", [name]).fetchone()
    if existing and not options.replace:
        if existing[1] == source_hash and json.loads(existing[2]) == recorded:
            return store.dataset(name)
        raise IngestError(path, f"a dataset named {name!r} already exists with other files or "
                                "options; pass --name to keep both, or --replace")

    if existing:
        _check_replaceable(store, name, existing[0])
    inter = source.interactions
    check_items(inter, source.items, source.files[1] if len(source.files) > 1 else None)
    inter = check_duplicates(inter, options.dedupe)
    inter = k_core(implicit(inter, options.min_rating), options.k_core)
    if inter.height == 0:
        raise IngestError(path, "no interactions left after filtering")
    try:
        inter = assign_split(inter, split)
    except ValueError as exc:
        raise IngestError(path, str(exc)) from exc

    users = index(inter["user_key"], "user")
    item_keys = inter["item_key"]
    if source.items is not None and options.k_core <= 1:
        item_keys = pl.concat([item_keys, source.items["item_key"]])
    items = index(item_keys, "item")
    if source.items is not None:
        items = items.join(source.items, on="item_key", how="left")
    else:
        items = items.with_columns(pl.lit(None, pl.String).alias("title"),
                                   pl.lit(None, pl.String).alias("text"))
    if source.users is not None:
        users = users.join(source.users.unique("user_key", keep="first"), on="user_key",
                           how="left")
    else:
        users = users.with_columns(pl.lit(None, pl.String).alias("attrs"))
    inter = inter.join(users.select("user_key", "user_idx"), on="user_key").join(
        items.select("item_key", "item_idx"), on="item_key")

    with store.transaction() as con:
        if existing:
            _delete_dataset(con, existing[0])
        dataset_id = con.execute(
            "SELECT coalesce(max(dataset_id), 0) + 1 FROM datasets").fetchone()[0]
        con.execute(
            "INSERT INTO datasets (dataset_id, name, source_format, source_path, source_hash, "
            "options, n_users, n_items, n_interactions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [dataset_id, name, source.format, str(path), source_hash, json.dumps(recorded),
             users.height, items.height, inter.height])
        ds = pl.lit(dataset_id, pl.Int32).alias("dataset_id")
        store.insert_frame("users", users.select(ds, "user_idx", "user_key", "attrs"))
        store.insert_frame("items", items.select(ds, "item_idx", "item_key", "title", "text"))
        store.insert_frame("interactions", inter.select(
            ds, "user_idx", "item_idx", "rating", "ts", "split"))
    return store.dataset(name)


def _check_replaceable(store: Store, name: str, dataset_id: int) -> None:
    """Replacing re-indexes users and items, which would orphan generated data and runs."""
    n_jobs, n_runs = store.con.execute(
        "SELECT (SELECT count(*) FROM jobs WHERE dataset_id = ?), "
        "(SELECT count(*) FROM runs WHERE dataset_id = ?)", [dataset_id, dataset_id]).fetchone()
    if n_jobs or n_runs:
        raise IngestError(name, f"cannot --replace: {n_jobs} LLM jobs and {n_runs} training runs "
                                "refer to this dataset; ingest under a new --name instead")


def _delete_dataset(con, dataset_id: int) -> None:
    for table in ("interactions", "items", "users", "datasets"):
        con.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [dataset_id])
