"""CLI commands of the graph room: ingest, datasets, stats. Each is a thin call into the library."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from workbench.graph.ingest import ColumnMap, IngestError, IngestOptions, ingest
from workbench.graph.splits import SplitConfig
from workbench.graph.stats import dataset_stats
from workbench.console import console, fail, open_store, read_store
from workbench.store import StoreError
from workbench.settings import get_settings

def ingest_command(
    path: Annotated[Optional[Path], typer.Argument(
        help="Dataset folder or file. Omit for the bundled default, MovieLens-100K.")] = None,
    format: Annotated[str, typer.Option(
        help="auto, recbole, lightgcn, amazon or table (CSV/Parquet).")] = "auto",
    name: Annotated[Optional[str], typer.Option(help="Dataset name in the store.")] = None,
    split: Annotated[Optional[str], typer.Option(
        help="random, loo (leave-one-out by time) or given. Default: the source's own split "
             "if it has one, else random.")] = None,
    ratios: Annotated[str, typer.Option(help="train,valid,test shares for --split random.")]
        = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 2020,
    valid_from_train: Annotated[float, typer.Option(
        help="With a given split lacking validation: share of training items moved to it.")]
        = 0.0,
    min_rating: Annotated[Optional[float], typer.Option(
        help="Implicit feedback: keep interactions with rating >= this. Default: keep all.")]
        = None,
    k_core: Annotated[int, typer.Option(help="Keep users/items with >= k interactions.")] = 0,
    dedupe: Annotated[bool, typer.Option(
        help="Keep the latest of duplicate (user, item) pairs instead of failing.")] = False,
    replace: Annotated[bool, typer.Option(help="Replace a dataset of the same name.")] = False,
    user_col: Annotated[str, typer.Option(help="Table format: user id column.")] = "user_id",
    item_col: Annotated[str, typer.Option(help="Table format: item id column.")] = "item_id",
    rating_col: Annotated[Optional[str], typer.Option(help="Table format: rating column.")]
        = None,
    time_col: Annotated[Optional[str], typer.Option(help="Table format: time column.")] = None,
    item_file: Annotated[Optional[Path], typer.Option(
        help="Table format: item table (CSV/Parquet) with item text.")] = None,
    item_id_col: Annotated[str, typer.Option(help="Item table: id column.")] = "item_id",
    title_col: Annotated[Optional[str], typer.Option(help="Item table: title column.")]
        = "title",
    text_cols: Annotated[str, typer.Option(
        help="Item table: other text columns to keep, comma-separated.")] = "",
) -> None:
    """Load a dataset into the store (one transaction: all or nothing)."""
    try:
        # No split option given: the source's own split if it has one, else random defaults.
        split_cfg = None
        if split or valid_from_train or ratios != "0.8,0.1,0.1" or seed != 2020:
            split_cfg = SplitConfig(
                method=split or ("given" if valid_from_train else "random"), seed=seed,
                valid_from_train=valid_from_train,
                ratios=tuple(float(r) for r in ratios.split(",")))
        options = IngestOptions(
            path=path, format=format, name=name, split=split_cfg, min_rating=min_rating,
            k_core=k_core, dedupe=dedupe, replace=replace,
            columns=ColumnMap(user=user_col, item=item_col, rating=rating_col,
                              timestamp=time_col, item_file=item_file, item_id=item_id_col,
                              title=title_col, text=[c for c in text_cols.split(",") if c]),
        )
    except ValueError as exc:
        fail(str(exc))
    start = time.perf_counter()
    try:
        with open_store() as store:
            info = ingest(store, options, get_settings().cache_dir)
    except (IngestError, StoreError) as exc:
        fail(str(exc))
    console.print(
        f"dataset [bold]{info.name}[/bold]: {info.n_users:,} users, {info.n_items:,} items, "
        f"{info.n_interactions:,} interactions ({time.perf_counter() - start:.1f} s)")


def datasets_command() -> None:
    """List the datasets in the store."""
    with read_store() as store:
        table = Table("id", "name", "format", "users", "items", "interactions")
        for d in store.datasets():
            table.add_row(str(d.dataset_id), d.name, d.source_format, f"{d.n_users:,}",
                          f"{d.n_items:,}", f"{d.n_interactions:,}")
    console.print(table)


def stats_command(
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
        = None,
) -> None:
    """Counts, density, degree quantiles per split, and items without a title."""
    try:
        with read_store() as store:
            stats = dataset_stats(store, dataset)
    except StoreError as exc:
        fail(str(exc))
    info = stats.info
    console.print(f"[bold]{info.name}[/bold] ({info.source_format}): {info.n_users:,} users, "
                  f"{info.n_items:,} items, {info.n_interactions:,} interactions, "
                  f"density {stats.density:.4%}, items without a title: "
                  f"{stats.items_without_title:,}")
    table = Table("split", "interactions", "users", "items", "user degree min/med/p90/max",
                  "item degree min/med/p90/max")
    for s in stats.splits:
        table.add_row(s.split, f"{s.n_interactions:,}", f"{s.n_users:,}", f"{s.n_items:,}",
                      " ".join(f"{v:g}" for v in s.user_degree),
                      " ".join(f"{v:g}" for v in s.item_degree))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("datasets")(datasets_command)
    app.command("stats")(stats_command)
