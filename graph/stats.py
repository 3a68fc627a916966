"""Dataset statistics computed in DuckDB: counts, density, degree quantiles per split."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.store import DatasetInfo, Store

QUANTILES = (0.0, 0.5, 0.9, 1.0)  # min, median, p90, max


@dataclass
class SplitStats:
    split: str
    n_interactions: int
    n_users: int
    n_items: int
    user_degree: list[float]  # at QUANTILES, over users with >= 1 interaction in the split
    item_degree: list[float]


@dataclass
class DatasetStats:
    info: DatasetInfo
    density: float
    items_without_title: int  # items the LLM jobs know nothing about but their id
    splits: list[SplitStats]


def _degree_quantiles(store: Store, dataset_id: int, split: str, column: str) -> list[float]:
    qs = ", ".join(str(q) for q in QUANTILES)
    row = store.con.execute(
        f"SELECT quantile_cont(d, [{qs}]) FROM (SELECT count(*) AS d FROM interactions "
        f"WHERE dataset_id = ? AND split = ? GROUP BY {column})", [dataset_id, split]
    ).fetchone()
    return list(row[0]) if row and row[0] is not None else [0.0] * len(QUANTILES)


def dataset_stats(store: Store, name: str | None = None) -> DatasetStats:
    info = store.dataset(name)
    did = info.dataset_id
    splits = []
    rows = store.con.execute(
        "SELECT split, count(*), count(DISTINCT user_idx), count(DISTINCT item_idx) "
        "FROM interactions WHERE dataset_id = ? GROUP BY split "
        "ORDER BY array_position(['train', 'valid', 'test'], split)", [did]).fetchall()
    for split, n, nu, ni in rows:
        splits.append(SplitStats(split, n, nu, ni,
                                 _degree_quantiles(store, did, split, "user_idx"),
                                 _degree_quantiles(store, did, split, "item_idx")))
    lacking = store.con.execute(
        "SELECT count(*) FROM items WHERE dataset_id = ? AND (title IS NULL OR trim(title) = '')",
        [did]).fetchone()[0]
    density = info.n_interactions / max(1, info.n_users * info.n_items)
    return DatasetStats(info, density, lacking, splits)


def stats_record(stats: DatasetStats, enriched: object | None = None) -> dict:
    """Dataset (and enriched-graph) statistics as plain JSON-ready values."""
    from dataclasses import asdict

    out = {"dataset": asdict(stats.info), "density": stats.density,
           "items_without_title": stats.items_without_title,
           "degree_quantiles": list(QUANTILES),
           "splits": [asdict(s) for s in stats.splits], "enriched_graph": None}
    if enriched is not None:
        out["enriched_graph"] = {
            "components": enriched.n_components,
            "largest_component_items": enriched.largest_component_items,
            "items_without_nodes": enriched.items_without_nodes,
            "node_types": enriched.by_type.to_dicts(), "hubs": enriched.hubs.to_dicts()}
    return out
