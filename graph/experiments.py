"""The ablation: base / +edges / +con / +gen / +all on one split with several seeds.

Every variant is selected on validation like any run; the table reports the test metrics of
the validation-selected epoch as mean ± std over seeds, overall and on cold items (held-out
items with at most ``cold_max_degree`` training interactions), where augmentation should
matter most. Each (variant, seed) is a recorded run; the table is stored in ``experiments``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import polars as pl
from torch_geometric.seed import seed_everything

from graph import runs
from graph.alignment import MaskedProfileReconstruction, ProfileContrast, Profiles
from graph.evaluate import evaluate
from graph.store import Store
from graph.train import TrainConfig, Trainer
from graph.views import HeldOut, load_graph, load_profile_embeddings

VARIANTS = {  # name: (view, contrastive, generative)
    "base": ("base", False, False),
    "+edges": ("llmrec", False, False),
    "+con": ("base", True, False),
    "+gen": ("base", False, True),
    "+all": ("llmrec", True, True),
}


def cold_truth(truth: HeldOut, train_items: np.ndarray, num_items: int,
               max_degree: int) -> HeldOut:
    """The held-out pairs whose item has at most ``max_degree`` training interactions."""
    degree = np.bincount(train_items, minlength=num_items)
    users = np.repeat(np.arange(len(truth.indptr) - 1), np.diff(truth.indptr))
    keep = degree[truth.items] <= max_degree
    return HeldOut.from_pairs(users[keep], truth.items[keep], len(truth.indptr) - 1)


def run_variant(store: Store, dataset: str | None, variant: str, config: TrainConfig,
                profiles: Profiles | None, cold_max_degree: int) -> dict:
    view, con, gen = VARIANTS[variant]
    data = load_graph(store, dataset, view)
    seed_everything(config.seed)  # the loss modules' own parameters, too
    losses = []
    if con:
        losses.append(ProfileContrast(profiles, config.embedding_dim))
    if gen:
        losses.append(MaskedProfileReconstruction(profiles, config.embedding_dim))
    trainer = Trainer(store, config, data, losses)
    result = trainer.fit()
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
    profiles = None
    if any(VARIANTS[v][1] or VARIANTS[v][2] for v in variants):
        profiles = Profiles(*load_profile_embeddings(store, info))
    for v in variants:  # fail before any training if a view cannot be built
        load_graph(store, info.name, VARIANTS[v][0])
    results = []
    for seed in seeds:
        for variant in variants:
            cfg = config.model_copy(update={"seed": seed})
            results.append(run_variant(store, info.name, variant, cfg, profiles,
                                       cold_max_degree))
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
