"""CLI commands of the graph room: ingest, datasets, stats. Each is a thin call into the library."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import polars as pl
import typer
from rich.table import Table

from workbench.graph.ingest import ColumnMap, IngestError, IngestOptions, ingest
from workbench.graph.ingest.formats import formats
from workbench.graph.splits import SplitConfig
from workbench.graph.enriched import build_enriched_graph
from workbench.graph.graph_stats import EnrichedStats, enriched_stats
from workbench.graph.stats import dataset_stats, stats_record
from workbench.console import (AsCsv, AsJson, console, emit, fail, open_store, print_json,
                               read_store, with_choices)
from workbench.errors import ConfigError, validation_message
from workbench.store import DatasetInfo, StoreError
from workbench.settings import get_settings

def parse_ratios(text: str) -> tuple[float, float, float]:
    """``--ratios`` as three shares (train, valid, test) that sum to 1."""
    try:
        shares = tuple(float(r) for r in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) != 3 or min(shares) < 0 or abs(sum(shares) - 1) > 1e-6:
        raise ConfigError(f"--ratios takes three non-negative shares train,valid,test that sum "
                          f"to 1, e.g. 0.8,0.1,0.1; got {text!r}")
    return shares  # type: ignore[return-value]


def ingest_command(
    path: Annotated[Optional[Path], typer.Argument(
        help="Dataset folder or file. Omit for the bundled default, MovieLens-100K.")] = None,
    format: Annotated[str, typer.Option(
        help="auto (detected from the files), or one of: " + "; ".join(
            f"{name} ({spec.summary})" for name, spec in formats().items()) + ".")] = "auto",
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
                valid_from_train=valid_from_train, ratios=parse_ratios(ratios))
        options = IngestOptions(
            path=path, format=format, name=name, split=split_cfg, min_rating=min_rating,
            k_core=k_core, dedupe=dedupe, replace=replace,
            columns=ColumnMap(user=user_col, item=item_col, rating=rating_col,
                              timestamp=time_col, item_file=item_file, item_id=item_id_col,
                              title=title_col, text=[c for c in text_cols.split(",") if c]),
        )
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"invalid ingest options: {validation_message(exc)}") from None
    start = time.perf_counter()
    try:
        with open_store() as store:
            info = ingest(store, options, get_settings().cache_dir)
    except (IngestError, StoreError) as exc:
        fail(str(exc))
    console.print(
        f"dataset [bold]{info.name}[/bold]: {info.n_users:,} users, {info.n_items:,} items, "
        f"{info.n_interactions:,} interactions ({time.perf_counter() - start:.1f} s)")


def datasets_command(as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """List the datasets in the store."""
    with read_store() as store:
        frame = pl.DataFrame([vars(d) for d in store.datasets()],
                             schema=list(DatasetInfo.__dataclass_fields__))

    def table() -> Table:
        out = Table("id", "name", "format", "users", "items", "interactions")
        for d in frame.iter_rows(named=True):
            out.add_row(str(d["dataset_id"]), d["name"], d["source_format"], f"{d['n_users']:,}",
                        f"{d['n_items']:,}", f"{d['n_interactions']:,}")
        return out

    emit(frame, as_json, as_csv, table)


def stats_command(
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
        = None,
    as_json: AsJson = False,
) -> None:
    """Counts, density, degree quantiles per split, and the enriched graph's statistics."""
    with read_store() as store:
        stats = dataset_stats(store, dataset)
        enriched = enriched_stats(store, stats.info)
    if as_json:
        print_json(stats_record(stats, enriched))
        return
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
    show_enriched(info, enriched)


def show_enriched(info: DatasetInfo, enriched: EnrichedStats | None) -> None:
    if enriched is None:
        console.print("no enriched graph yet (`workbench graph build`)")
        return
    console.print(f"enriched graph: {enriched.n_components:,} connected components of items "
                  f"and attribute/code nodes; the largest holds "
                  f"{enriched.largest_component_items:,} of {info.n_items:,} items; "
                  f"{enriched.items_without_nodes:,} items have no node")
    table = Table("node type", "nodes", "item edges", "items with one")
    for row in enriched.by_type.iter_rows():
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(table)
    hubs = ", ".join(f"{t}={v} ({n:,})" for t, v, n, _ in enriched.hubs.iter_rows())
    console.print(f"largest hubs: {hubs}", highlight=False)


graph_app = typer.Typer(help="The enriched graph: attribute and semantic-ID nodes.",
                        no_args_is_help=True)


@graph_app.command("build")
def build_command(
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
        = None,
    columns: Annotated[Optional[str], typer.Option(help=(
        "Item metadata columns that become attribute nodes, comma-separated, each optionally "
        "NAME:KIND with KIND token, list, seq (space-separated) or band (numeric quantiles). "
        "Default: every column, kind guessed."))] = None,
    attribute_job: Annotated[str, typer.Option(help=(
        "Item-attributes job whose fields become nodes: a job id, latest, or none."))]
        = "latest",
    code_levels: Annotated[int, typer.Option(help=(
        "Semantic-ID levels (residual k-means of item text embeddings); 0: no codes."))] = 2,
    codebook_size: Annotated[int, typer.Option(help="Codes per level.")] = 32,
    max_item_share: Annotated[float, typer.Option(help=(
        "Drop attribute values on more than this share of the items (hubs).")) ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the k-means.")] = 2020,
) -> None:
    """Build (or rebuild) a dataset's enriched graph: attribute and semantic-ID code nodes."""
    with open_store() as store:
        summary = build_enriched_graph(
            store, dataset, [c for c in columns.split(",") if c] if columns else None,
            None if attribute_job == "none" else attribute_job, code_levels, codebook_size,
            seed, max_item_share=max_item_share)
    types = ", ".join(f"{t} {n:,}" for t, n in summary["by_type"].items())
    console.print(f"enriched graph of [bold]{summary['dataset']}[/bold]: {summary['nodes']:,} "
                  f"nodes ({types}), {summary['edges']:,} item edges", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")
    app.command("ingest")(with_choices(ingest_command, format=lambda: ["auto", *formats()],
                                       split=lambda: ["random", "loo", "given"]))
    app.command("datasets")(datasets_command)
    app.command("stats")(stats_command)
