"""What a finished run is for: a user's top-K items, and its metrics recomputed from the
stored embeddings (the same full-ranking protocol as training: known items excluded)."""

from __future__ import annotations

import numpy as np
import polars as pl

from workbench import runs
from workbench.errors import ConfigError, StoreError
from workbench.graph.evaluate import evaluate, top_k
from workbench.graph.views import load_graph
from workbench.store import Store


def _run_dataset(store: Store, run: str) -> tuple[dict, str]:
    info = runs.get_run(store, run)
    name = store.con.execute("SELECT name FROM datasets WHERE dataset_id = ?",
                             [info["dataset_id"]]).fetchone()[0]
    return info, name


def recommend(store: Store, run: str, user: str, k: int = 10) -> pl.DataFrame:
    """``user``'s (id as in the source data) top-``k`` items from a finished run, training
    items excluded: rank, item, title, and whether the item is held out (valid/test)."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    info, name = _run_dataset(store, run)
    row = store.con.execute("SELECT user_idx FROM users WHERE dataset_id = ? AND user_key = ?",
                            [info["dataset_id"], str(user)]).fetchone()
    if row is None:
        raise StoreError(f"unknown user {user!r} in dataset {name!r}")
    user_emb, item_emb = runs.load_embeddings(store, info["run_id"])
    data = load_graph(store, name, require_valid=False)
    ranked = top_k(user_emb, item_emb, np.array([row[0]]), k, [data.train_csr])[0].tolist()
    held = set(data.valid.items[data.valid.indptr[row[0]]:data.valid.indptr[row[0] + 1]])
    held |= set(data.test.items[data.test.indptr[row[0]]:data.test.indptr[row[0] + 1]])
    items = store.frame("SELECT item_idx, item_key AS item, title FROM items WHERE "
                        "dataset_id = ? AND item_idx IN (SELECT unnest(?))",
                        [info["dataset_id"], ranked])
    order = pl.DataFrame({"item_idx": ranked, "rank": range(1, len(ranked) + 1)},
                         schema={"item_idx": items.schema["item_idx"], "rank": pl.Int64})
    return order.join(items, on="item_idx").sort("rank").select(
        "rank", "item", "title",
        pl.col("item_idx").is_in([int(i) for i in held]).alias("held_out"))


def evaluate_run(store: Store, run: str, split: str = "test",
                 ks: tuple[int, ...] = (10, 20)) -> dict[str, float]:
    """A finished run's metrics on ``split`` (valid or test) from its stored embeddings:
    for test, training and validation items are excluded; for valid, training items."""
    if split not in ("valid", "test"):
        raise ConfigError(f"split must be valid or test, got {split!r}")
    info, name = _run_dataset(store, run)
    user_emb, item_emb = runs.load_embeddings(store, info["run_id"])
    data = load_graph(store, name, require_valid=split == "valid")
    exclude = [data.train_csr] + ([data.valid] if split == "test" else [])
    return evaluate(user_emb, item_emb, getattr(data, split), exclude, ks)
