"""The enriched graph: item side information as nodes and edges, with provenance.

    summary = build_enriched_graph(store, "beauty")        # `workbench graph build`

Three sources of nodes, each edge to an item recorded with where it came from:

- **source metadata**: the items' own columns (genres, categories, brand, a price band...):
  ``column:NAME``. Values are normalized (HTML entities, case, whitespace, punctuation) so
  near-duplicates ("L'Oreal Paris", "L'OREAL  PARIS", "loreal paris") become one node;
  lists ("'Beauty', 'Makeup'" or "Action Comedy") become one node per element; numbers
  become quantile bands.
- **LLM item attributes**: each schema field's values of an item-attributes job:
  ``job:JOB_ID``.
- **semantic IDs**: residual k-means codes of the items' text embeddings; each code prefix is
  a node (``codes:EMBED_JOB_ID``), so items with similar text share parameters.

Values on fewer than ``min_items`` items connect nothing and are dropped; values on more than
``max_item_share`` of the items (e.g. Amazon's "Beauty" category on every item) carry no
information and would make a hub of every item's neighbourhood, so they are dropped too.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from workbench.augment.embed import ITEM_TEXT
from workbench.augment.outputs import find_job, job_rows
from workbench.errors import ViewError
from workbench.graph.semantic_ids import code_prefixes, residual_kmeans
from workbench.graph.views import GraphData, ViewSpec, latest_embeddings, register_view
from workbench import processes
from workbench.store import DatasetInfo, Store

QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalize_value(value: object) -> str:
    """One spelling per value: HTML entities decoded, lower case, whitespace collapsed."""
    text = html.unescape(str(value)).strip().lower()
    return re.sub(r"\s+", " ", text).strip(" .,;:-_'\"")


def merge_key(value: str) -> str:
    """Near-duplicates share this key (punctuation and spacing ignored)."""
    return NOT_WORD.sub("", value)


@dataclass(frozen=True)
class ColumnSpec:
    """How a metadata column becomes nodes: ``token`` (one value), ``list`` (quoted or
    comma-separated elements), ``seq`` (space-separated tokens), ``band`` (numeric, in
    quantile bands)."""

    name: str
    kind: str = "auto"

    @classmethod
    def parse(cls, text: str) -> ColumnSpec:
        name, _, kind = text.strip().partition(":")
        kind = kind or "auto"
        if kind not in ("auto", "token", "list", "seq", "band"):
            raise ViewError(f"column {name!r}: unknown kind {kind!r} (token, list, seq, band)")
        return cls(name, kind)


def _elements(value: object, kind: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    if kind == "list":
        quoted = QUOTED.findall(text)
        return [a or b for a, b in quoted] if quoted else text.split(",")
    if kind == "seq":
        return text.split()
    return [text]


def _guess_kind(values: list[object]) -> str:
    present = [v for v in values if v not in (None, "")]
    if not present:
        return "token"
    if all(isinstance(v, (int, float)) for v in present):
        return "band"
    strings = [str(v) for v in present]
    if sum(bool(QUOTED.match(s)) for s in strings) > len(strings) / 2:
        return "list"
    tokens = {t for s in strings for t in s.split()}
    multi = sum(len(s.split()) > 1 for s in strings)
    # a space-separated list (RecBole token_seq, e.g. genres) reuses few tokens; names do not
    return "seq" if multi > len(strings) / 10 and len(tokens) < len(set(strings)) else "token"


def source_attribute_values(store: Store, info: DatasetInfo,
                            columns: list[ColumnSpec] | None = None,
                            bands: int = 5) -> pl.DataFrame:
    """(item_idx, node_type, value, source) from the items' own metadata columns (all of
    them when ``columns`` is None)."""
    frame = store.frame("SELECT item_idx, text FROM items WHERE dataset_id = ? "
                        "ORDER BY item_idx", [info.dataset_id])
    records = [json.loads(t or "{}") for t in frame["text"]]
    present = sorted({k for r in records for k in r})
    explicit = columns is not None
    if columns is None:
        columns = [ColumnSpec(name) for name in present]
    missing = [c.name for c in columns if c.name not in present]
    if missing:
        raise ViewError(f"dataset {info.name!r} has no item column {', '.join(missing)}; its "
                        f"columns: {', '.join(present) or 'none'} (re-ingest with --text-cols)")
    rows: list[tuple[int, str, str, str]] = []
    for spec in columns:
        values = [r.get(spec.name) for r in records]
        if explicit and all(v in (None, "") for v in values):
            raise ViewError(f"item column {spec.name!r} of {info.name!r} has no value on any "
                            "item")
        kind = _guess_kind(values) if spec.kind == "auto" else spec.kind
        if kind == "band":
            rows += _banded(frame["item_idx"].to_list(), values, spec.name, bands)
            continue
        for idx, value in zip(frame["item_idx"], values):
            rows += [(idx, spec.name, normalize_value(e), f"column:{spec.name}")
                     for e in _elements(value, kind)]
    return _frame(rows)


def _banded(items: list[int], values: list[object], name: str, bands: int) -> list[tuple]:
    numbers = np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in values])
    ok = ~np.isnan(numbers)
    if not ok.any():
        return []
    edges = np.unique(np.quantile(numbers[ok], np.linspace(0, 1, bands + 1)[1:-1]))
    band = np.searchsorted(edges, numbers, side="right")
    return [(idx, name, f"band {int(b) + 1} of {len(edges) + 1}", f"column:{name}")
            for idx, b, good in zip(items, band, ok) if good]


def llm_attribute_values(store: Store, info: DatasetInfo, job_id: str) -> pl.DataFrame:
    """(item_idx, node_type, value, source) from an item-attributes job's answers: each schema
    field (lists element-wise; numbers such as years as they are)."""
    table = job_rows(store, job_id, "item_idx, attributes")
    rows = []
    for idx, text in zip(table.column("item_idx").to_pylist(),
                         table.column("attributes").to_pylist()):
        for field, value in json.loads(text).items():
            for element in (value if isinstance(value, list) else [value]):
                norm = normalize_value(element)
                if norm and norm not in ("unknown", "n/a", "none"):
                    rows.append((idx, f"llm:{field}", norm, f"job:{job_id}"))
    return _frame(rows)


def code_values(store: Store, info: DatasetInfo, levels: int, codebook_size: int, seed: int,
                embed_job: str | None = None) -> tuple[pl.DataFrame, np.ndarray, str]:
    """Semantic-ID code nodes of every item from its text embedding, and the codes."""
    got = item_text_embeddings(store, info, embed_job)
    job_id, matrix = got
    codes = residual_kmeans(matrix, levels, codebook_size, seed)
    rows = [(idx, f"code:{level + 1}", prefix, f"codes:{job_id}")
            for idx, prefixes in enumerate(code_prefixes(codes))
            for level, prefix in enumerate(prefixes)]
    return _frame(rows), codes.numpy(), job_id


def _check_finished(store: Store, job_id: str) -> None:
    """A job still being written would give a graph of whatever it had so far: refused."""
    status, pid, host, started, updated = store.con.execute(
        "SELECT status, pid, host, pid_started, updated_at FROM jobs WHERE job_id = ?",
        [job_id]).fetchone()
    if status == "running" and processes.alive(pid, host, started, updated):
        raise ViewError(f"job {job_id} is still running (PID {pid} on {host}): build the "
                        "graph when it is done, or name another with --attribute-job")


def item_text_embeddings(store: Store, info: DatasetInfo, job_id: str | None = None
                         ) -> tuple[str, torch.Tensor]:
    """The embed job of the items' source text and its (n_items, d) matrix; every item must
    have a vector."""
    sources: dict[str, str] = {}
    got = latest_embeddings(store, info, ITEM_TEXT, info.n_items, job_id, sources)
    if got is not None:
        _check_finished(store, sources[f"embed:{ITEM_TEXT}"])
    if got is None:
        raise ViewError(f"dataset {info.name!r} has no item text embeddings: run "
                        "`workbench augment embed --source item-text`")
    matrix, mask = got
    if not bool(mask.all()):
        raise ViewError(f"the item text embeddings of {info.name!r} cover "
                        f"{int(mask.sum())} of {info.n_items} items: rerun "
                        "`workbench augment embed --source item-text` to finish them")
    return sources[f"embed:{ITEM_TEXT}"], matrix


def _frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"item_idx": pl.Int32, "node_type": pl.String,
                                      "value": pl.String, "source": pl.String}, orient="row")


def _merge_and_filter(values: pl.DataFrame, n_items: int, min_items: int,
                      max_item_share: float) -> pl.DataFrame:
    values = values.filter(pl.col("value") != "").with_columns(
        pl.col("value").map_elements(merge_key, return_dtype=pl.String).alias("key"))
    values = values.filter(pl.col("key") != "")
    # one spelling per (type, key): the most frequent
    spelling = (values.group_by("node_type", "key", "value").len()
                .sort("len", "value", descending=[True, False])
                .unique(["node_type", "key"], keep="first").select("node_type", "key", "value"))
    values = values.drop("value").join(spelling, on=["node_type", "key"]).unique(
        ["item_idx", "node_type", "key"])
    counts = values.group_by("node_type", "key").agg(pl.len().alias("n_items"))
    keep = counts.filter((pl.col("n_items") >= min_items)
                         & (pl.col("n_items") <= max_item_share * n_items))
    return values.join(keep, on=["node_type", "key"])


def build_enriched_graph(store: Store, dataset: str | None = None,
                         columns: list[str] | None = None, attribute_job: str | None = "latest",
                         code_levels: int = 2, codebook_size: int = 32, seed: int = 2020,
                         min_items: int = 2, max_item_share: float = 0.2,
                         embed_job: str | None = None) -> dict:
    """Build (or rebuild) the dataset's enriched graph in one transaction; returns a summary.
    ``attribute_job``: an item-attributes job id, ``latest``, or None for none;
    ``code_levels=0`` builds no semantic IDs."""
    info = store.dataset(dataset)
    specs = [ColumnSpec.parse(c) for c in columns] if columns is not None else None
    parts = [source_attribute_values(store, info, specs)]
    used = {"columns": columns, "attribute_job": None, "embed_job": None}
    if attribute_job is not None:
        job = find_job(store, info.dataset_id, "item-attributes",
                       job_id=None if attribute_job == "latest" else attribute_job)
        if job is not None:
            _check_finished(store, job)
            parts.append(llm_attribute_values(store, info, job))
            used["attribute_job"] = job
    codes = None
    if code_levels:
        code_frame, codes, used["embed_job"] = code_values(store, info, code_levels,
                                                           codebook_size, seed, embed_job)
    values = _merge_and_filter(pl.concat(parts), info.n_items, min_items, max_item_share)
    if code_levels:  # codes are never merged or dropped as hubs: each prefix is a node
        counts = code_frame.group_by("node_type", "value").agg(pl.len().alias("n_items"))
        code_frame = code_frame.join(counts.filter(pl.col("n_items") >= min_items),
                                     on=["node_type", "value"])
        values = pl.concat([values.drop("key"), code_frame], how="diagonal_relaxed")
    nodes = (values.select("node_type", "value", "source", "n_items").unique(["node_type",
                                                                               "value"])
             .sort("node_type", "value").with_row_index("node_idx")
             .with_columns(pl.col("node_idx").cast(pl.Int32),
                           pl.lit(info.dataset_id).cast(pl.Int32).alias("dataset_id")))
    edges = values.join(nodes.select("node_type", "value", "node_idx"),
                        on=["node_type", "value"]).select(
        pl.lit(info.dataset_id).cast(pl.Int32).alias("dataset_id"), "item_idx", "node_idx"
    ).unique()
    config = {**used, "code_levels": code_levels, "codebook_size": codebook_size,
              "seed": seed, "min_items": min_items, "max_item_share": max_item_share}
    with store.transaction() as con:
        for table in ("graph_nodes", "graph_edges", "semantic_ids", "graph_builds"):
            con.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [info.dataset_id])
        store.insert_frame("graph_nodes", nodes.select(
            "dataset_id", "node_idx", "node_type", "value", "source", "n_items"))
        store.insert_frame("graph_edges", edges)
        if codes is not None:
            store.insert_frame("semantic_ids", pl.DataFrame({
                "dataset_id": [info.dataset_id] * len(codes),
                "item_idx": np.arange(len(codes), dtype=np.int32),
                "codes": pl.Series(codes.astype(np.int32)).cast(pl.List(pl.Int32)),
                "embed_job": [used["embed_job"]] * len(codes)}))
        con.execute("INSERT INTO graph_builds (dataset_id, config) VALUES (?, ?)",
                    [info.dataset_id, json.dumps(config)])
    return {"dataset": info.name, "nodes": nodes.height, "edges": edges.height,
            "by_type": dict(nodes.group_by("node_type").len().sort("node_type").iter_rows()),
            **config}


# -- views --------------------------------------------------------------------------------
def attach_nodes(store: Store, data: GraphData, kinds: str) -> None:
    """Add the enriched graph's nodes (``attributes``: all but codes; ``codes``; ``all``)."""
    info = data.dataset
    built = store.con.execute("SELECT config FROM graph_builds WHERE dataset_id = ?",
                              [info.dataset_id]).fetchone()
    if built is None:
        raise ViewError(f"dataset {info.name!r} has no enriched graph: run `workbench graph "
                        "build` (item text embeddings first for semantic IDs: `workbench "
                        "augment embed --source item-text`)")
    where = {"attributes": "node_type NOT LIKE 'code:%'", "codes": "node_type LIKE 'code:%'",
             "all": "TRUE"}[kinds]
    nodes = store.frame(f"SELECT node_idx, node_type, value FROM graph_nodes WHERE "
                        f"dataset_id = ? AND {where} ORDER BY node_idx", [info.dataset_id])
    if nodes.height == 0:
        raise ViewError(f"the enriched graph of {info.name!r} has no {kinds} nodes: rebuild "
                        "it with them (`workbench graph build --help`)")
    edges = store.con.execute(
        "SELECT e.item_idx, e.node_idx FROM graph_edges e JOIN graph_nodes n "
        f"USING (dataset_id, node_idx) WHERE e.dataset_id = ? AND {where}",
        [info.dataset_id]).fetchnumpy()
    remap = np.full(int(nodes["node_idx"].max()) + 1, -1, dtype=np.int64)
    remap[nodes["node_idx"].to_numpy()] = np.arange(nodes.height)
    data.num_extra_nodes = nodes.height
    data.item_node_edges = torch.from_numpy(np.stack([
        edges["item_idx"].astype(np.int64), remap[edges["node_idx"]]]))
    data.extra_node_names = [f"{t}={v}" for t, v in zip(nodes["node_type"], nodes["value"])]
    data.extra_node_types = nodes["node_type"].to_list()
    config = json.loads(built[0])
    for key in ("attribute_job", "embed_job"):
        if config.get(key) and (kinds != "codes" or key == "embed_job"):
            data.sources[f"graph:{key}"] = config[key]


def attach_text(store: Store, data: GraphData) -> None:
    job_id, matrix = item_text_embeddings(store, data.dataset,
                                          data.pins.get(f"embed:{ITEM_TEXT}"))
    data.item_text = matrix
    data.sources[f"embed:{ITEM_TEXT}"] = job_id


def _view(kinds: str | None, text: bool):
    def extend(store: Store, data: GraphData) -> None:
        if kinds:
            attach_nodes(store, data, kinds)
        if text:
            attach_text(store, data)
    return extend


register_view(ViewSpec("attributes", "+ attribute nodes (item metadata and LLM attributes) "
                                     "linked to their items", _view("attributes", False)))
register_view(ViewSpec("codes", "+ semantic-ID code nodes (residual k-means of item text "
                                "embeddings) linked to their items", _view("codes", False)))
register_view(ViewSpec("enriched", "+ attribute and semantic-ID nodes", _view("all", False)))
register_view(ViewSpec("text", "+ a text embedding of every item (language-initialized "
                               "items)", _view(None, True)))
register_view(ViewSpec("text-enriched", "+ item text embeddings and attribute/code nodes",
                       _view("all", True)))
