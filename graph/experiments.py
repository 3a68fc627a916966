"""The ablation: base / +edges / +feat / +con / +gen / +all on one split with several seeds.

Every variant is selected on validation like any run; the table reports the test metrics of
the validation-selected epoch as mean ± std over seeds, overall and on cold items (held-out
items with at most ``cold_max_degree`` training interactions), where augmentation should
matter most. Each (variant, seed) is a recorded run; the table is stored in ``experiments``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import polars as pl

from workbench import runs
from workbench.graph.evaluate import evaluate
from workbench.store import Store
from workbench.graph.train import TrainConfig, Trainer, configured_losses
from workbench.graph.views import HeldOut, load_graph

CON = {"contrast_weight": 1e-2}  # RLMRec-Con at the paper's weight
GEN = {"generative_weight": 0.1}  # RLMRec-Gen at the paper's weight
MAE = {"mae_weight": 0.1}  # LLMRec's masked feature reconstruction


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: a graph view and the TrainConfig fields it changes."""

    view: str
    settings: dict = field(default_factory=dict)  # may name another model


VARIANTS = {
    "base": Variant("base"),  # LightGCN, BPR on the training interactions
    "+edges": Variant("llmrec"),  # + LLMRec synthetic triples (pruned) in BPR
    "+feat": Variant("features", {"model": "lightgcn-features", **MAE}),  # + LLMRec features
    "+con": Variant("base", CON),  # + RLMRec-Con
    "+gen": Variant("base", GEN),  # + RLMRec-Gen
    "+all": Variant("llmrec-features", {"model": "lightgcn-features", **MAE, **CON, **GEN}),
}


def cold_truth(truth: HeldOut, train_items: np.ndarray, num_items: int,
               max_degree: int) -> HeldOut:
    """The held-out pairs whose item has at most ``max_degree`` training interactions."""
    degree = np.bincount(train_items, minlength=num_items)
    users = np.repeat(np.arange(len(truth.indptr) - 1), np.diff(truth.indptr))
    keep = degree[truth.items] <= max_degree
    return HeldOut.from_pairs(users[keep], truth.items[keep], len(truth.indptr) - 1)


def variant_config(config: TrainConfig, variant: str, seed: int) -> TrainConfig:
    """``config`` with the variant's settings and the seed (validated like any config)."""
    return TrainConfig(**{**config.model_dump(), **VARIANTS[variant].settings, "seed": seed})


def run_variant(store: Store, dataset: str | None, variant: str, config: TrainConfig,
                cold_max_degree: int) -> dict:
    """Train one variant with ``config`` (the variant's settings applied) and score it."""
    data = load_graph(store, dataset, VARIANTS[variant].view)
    result = Trainer(store, config, data).fit()
    user_emb, item_emb = runs.load_embeddings(store, result.run_id)
    cold = cold_truth(data.test, data.train[1].numpy(), data.num_items, cold_max_degree)
    cold_metrics = evaluate(user_emb, item_emb, cold, [data.train_csr, data.valid], config.ks)
    return {"variant": variant, "seed": config.seed, "run_id": result.run_id,
            "best_epoch": result.best_epoch, "valid": result.valid, "test": result.test,
            "cold_test": cold_metrics, "n_cold_pairs": len(cold)}


def summarize(results: list[dict], metrics: tuple[str, ...] = ("recall@20", "ndcg@20")
              ) -> pl.DataFrame:
    """Mean ± std over seeds per variant, overall and on cold items."""
    rows = []
    for variant in dict.fromkeys(r["variant"] for r in results):
        mine = [r for r in results if r["variant"] == variant]
        row = {"variant": variant, "seeds": len(mine)}
        for part in ("test", "cold_test"):
            for m in metrics:
                values = np.array([r[part][m] for r in mine if m in r[part]], dtype=float)
                if len(values) == 0:  # e.g. no cold held-out item in this split
                    row[f"{part} {m}"] = "-"
                    continue
                std = values.std(ddof=1) if len(values) > 1 else 0.0
                row[f"{part} {m}"] = f"{values.mean():.4f} ± {std:.4f}"
        rows.append(row)
    return pl.DataFrame(rows)


def run_ablation(store: Store, dataset: str | None, config: TrainConfig,
                 seeds: list[int], variants: list[str] | None = None,
                 cold_max_degree: int = 5,
                 on_run: Callable[[dict], None] | None = None) -> tuple[str, pl.DataFrame]:
    variants = variants or list(VARIANTS)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    info = store.dataset(dataset)
    for v in variants:  # fail before any training if a view or a loss cannot be built
        data = load_graph(store, info.name, VARIANTS[v].view)
        configured_losses(store, variant_config(config, v, config.seed), data)
    results = []
    for seed in seeds:
        for variant in variants:
            results.append(run_variant(store, info.name, variant,
                                       variant_config(config, variant, seed), cold_max_degree))
            if on_run:
                on_run(results[-1])
    experiment_id = (f"ablation-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}-"
                     f"{uuid.uuid4().hex[:6]}")
    store.con.execute(
        "INSERT INTO experiments (experiment_id, dataset_id, kind, config, results) "
        "VALUES (?, ?, 'ablation', ?, ?)",
        [experiment_id, info.dataset_id, json.dumps({
            "train": config.model_dump(mode="json"), "seeds": seeds, "variants": variants,
            "cold_max_degree": cold_max_degree}), json.dumps(results)])
    return experiment_id, summarize(results)
