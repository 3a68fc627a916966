"""The ablation: variants of LightGCN with and without enrichment, several seeds, one table.

Protocol (the same for every variant):
- **tuning**: a variant with a grid (its own weight: a loss weight, a temperature, the
  weight of attribute edges) trains once per grid value on the first seed; the value with
  the best *validation* ``select_metric`` is kept (never test). Each variant gets one grid of
  at most three values, so each has the same budget.
- **seeds**: the chosen setting then trains with every seed (the tuning run of the first
  seed is reused); each run is selected on validation like any run and tested once.
- **the table**: test Recall/NDCG@20 mean ± std over seeds, overall and on cold items (held-out
  items with at most ``cold_max_degree`` training interactions), and for each variant a
  paired bootstrap 95% interval of its difference to the baseline variant on the same users
  with matched seeds (:mod:`workbench.graph.significance`).
Every run is a recorded run; the table, the chosen settings and the intervals are stored
with the experiment.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import polars as pl

from workbench.errors import ConfigError
from workbench.graph.evaluate import per_user_metrics
from workbench.graph.significance import paired_bootstrap
from workbench.graph.train import TrainConfig, Trainer, configured_losses
from workbench.graph.views import GraphData, HeldOut, load_graph
from workbench.store import Store

SOFTMAX = {"loss": "softmax", "score": "cosine"}  # AlphaRec's objective
METRICS = ("recall@20", "ndcg@20")


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: a graph view, the TrainConfig fields it changes (may name
    another model; the untuned defaults, e.g. the paper's weight), and the grid of its own
    weight tuned on validation."""

    view: str
    settings: dict = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)  # one field -> candidate values
    summary: str = ""


VARIANTS = {
    "base": Variant("base", grid={"reg": [1e-4, 1e-3, 1e-2]},
                    summary="LightGCN, BPR on the training interactions"),
    "base-softmax": Variant("base", SOFTMAX, {"temperature": [0.1, 0.15, 0.2]},
                            "LightGCN with AlphaRec's loss and cosine score, no text"),
    "+attr": Variant("attributes", grid={"node_edge_weight": [0.5, 1.0, 2.0]},
                     summary="+ attribute nodes (metadata, LLM attributes)"),
    "+codes": Variant("codes", grid={"node_edge_weight": [0.5, 1.0, 2.0]},
                      summary="+ semantic-ID code nodes"),
    "+attr+codes": Variant("enriched", grid={"node_edge_weight": [0.5, 1.0, 2.0]},
                           summary="+ attribute and code nodes"),
    "+lang": Variant("text", {"model": "alpharec", **SOFTMAX},
                     {"temperature": [0.1, 0.15, 0.2]},
                     "language-initialized users/items (AlphaRec), item source text"),
    "+lang+id": Variant("text", {"model": "alpharec", **SOFTMAX},
                        {"id_weight": [0.1, 0.5, 1.0]},
                        "AlphaRec plus ID embeddings of users and items (a hybrid)"),
    "+lang+attr": Variant("text-enriched", {"model": "alpharec", **SOFTMAX},
                          {"temperature": [0.1, 0.15, 0.2]},
                          "AlphaRec over the graph with attribute and code nodes"),
    "+edges": Variant("llmrec", grid={"aug_weight": [0.5, 1.0, 2.0]},
                      summary="+ LLMRec synthetic triples (pruned) in BPR"),
    "+feat": Variant("features", {"model": "lightgcn-features", "mae_weight": 0.1},
                     {"feature_weight": [0.1, 0.5, 1.0]}, "+ LLMRec features, with MAE"),
    "+con": Variant("base", {"contrast_weight": 1e-2}, {"contrast_weight": [1e-3, 1e-2, 1e-1]},
                    "+ RLMRec-Con"),
    "+gen": Variant("base", {"generative_weight": 0.1},
                    {"generative_weight": [0.01, 0.1, 1.0]}, "+ RLMRec-Gen"),
    "+all": Variant("llmrec-features", {"model": "lightgcn-features", "mae_weight": 0.1,
                                        "contrast_weight": 1e-2, "generative_weight": 0.1},
                    summary="edges, features, MAE, Con and Gen at the papers' weights"),
}
LLM_VARIANTS = ["base", "+edges", "+feat", "+con", "+gen", "+all"]


def cold_truth(truth: HeldOut, train_items: np.ndarray, num_items: int,
               max_degree: int) -> HeldOut:
    """The held-out pairs whose item has at most ``max_degree`` training interactions."""
    degree = np.bincount(train_items, minlength=num_items)
    users = np.repeat(np.arange(len(truth.indptr) - 1), np.diff(truth.indptr))
    keep = degree[truth.items] <= max_degree
    return HeldOut.from_pairs(users[keep], truth.items[keep], len(truth.indptr) - 1)


def variant_config(config: TrainConfig, variant: str, seed: int,
                   tuned: dict | None = None) -> TrainConfig:
    """``config`` with the variant's settings, a tuned value and the seed (validated)."""
    return TrainConfig(**{**config.model_dump(), **VARIANTS[variant].settings,
                          **(tuned or {}), "seed": seed})


@dataclass
class _Scored:
    result: dict
    per_user: dict[str, np.ndarray]  # "test recall@20", "cold ndcg@20", ... per user


def run_variant(store: Store, data: GraphData, variant: str, config: TrainConfig,
                cold: HeldOut, tuned: dict) -> _Scored:
    """Train one variant with ``config`` and score it, overall and on cold items."""
    result = Trainer(store, config, data).fit()
    _, cold_metrics = per_user_metrics(*result.embeddings, cold, [data.train_csr, data.valid],
                                       config.ks)
    out = {"variant": variant, "seed": config.seed, "run_id": result.run_id, "tuned": tuned,
           "best_epoch": result.best_epoch, "valid": result.valid, "test": result.test,
           "n_cold_pairs": len(cold),
           "cold_test": {m: float(v.mean()) for m, v in cold_metrics.items() if len(v)}}
    per_user = {f"{part} {m}": metrics.get(m, np.zeros(0))
                for part, metrics in (("test", result.test_per_user), ("cold", cold_metrics))
                for m in METRICS}
    return _Scored(out, per_user)


def check_variants(store: Store, dataset: str | None, config: TrainConfig,
                   variants: list[str], pins: dict[str, str] | None = None
                   ) -> dict[str, GraphData]:
    """Every variant's view, losses and settings, built before any training (fail early).
    Each view is loaded once, so every run of a variant reads the same enrichment jobs."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    views = {}
    for v in variants:
        spec = VARIANTS[v]
        if spec.view not in views:
            views[spec.view] = load_graph(store, dataset, spec.view, pins=pins)
        # the grid only changes a weight: one check per variant covers its views and losses
        configured_losses(store, variant_config(config, v, config.seed), views[spec.view])
    return views


def run_ablation(store: Store, dataset: str | None, config: TrainConfig, seeds: list[int],
                 variants: list[str] | None = None, cold_max_degree: int = 5,
                 tune: bool = True, baseline: str = "base", n_boot: int = 2000,
                 on_run: Callable[[dict], None] | None = None,
                 pins: dict[str, str] | None = None) -> tuple[str, pl.DataFrame]:
    """Run the ablation; returns the experiment id and the printed table. ``pins`` fixes the
    enrichment jobs the views read; the jobs used are recorded once, in the experiment."""
    variants = variants or list(LLM_VARIANTS)
    if baseline not in variants:
        raise ConfigError(f"the baseline {baseline!r} is not among the variants "
                          f"({', '.join(variants)}): add it, or name another with --baseline")
    views = check_variants(store, dataset, config, variants, pins)
    info = store.dataset(dataset)
    any_view = next(iter(views.values()))
    cold = cold_truth(any_view.test, any_view.train[1].numpy(), any_view.num_items,
                      cold_max_degree)
    results: list[dict] = []
    scored: dict[str, list[_Scored]] = {}
    chosen: dict[str, dict] = {}
    for variant in variants:
        spec = VARIANTS[variant]
        data = views[spec.view]
        candidates = [{}]
        if tune and spec.grid:
            name, values = next(iter(spec.grid.items()))
            candidates = [{name: v} for v in values]
        first = []
        for tuned in candidates:  # tuning on the first seed, selection on validation
            first.append(run_variant(store, data, variant,
                                     variant_config(config, variant, seeds[0], tuned), cold,
                                     tuned))
            first[-1].result["tuning"] = len(candidates) > 1
            results.append(first[-1].result)
            if on_run:
                on_run(first[-1].result)
        best = max(first, key=lambda s: s.result["valid"].get(config.select_metric, -1.0))
        chosen[variant] = best.result["tuned"]
        scored[variant] = [best]
        for seed in seeds[1:]:
            scored[variant].append(run_variant(
                store, data, variant, variant_config(config, variant, seed, chosen[variant]),
                cold, chosen[variant]))
            results.append(scored[variant][-1].result)
            if on_run:
                on_run(scored[variant][-1].result)
    table, summary = summarize(scored, chosen, baseline, n_boot)
    experiment_id = (f"ablation-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}-"
                     f"{uuid.uuid4().hex[:6]}")
    store.con.execute(
        "INSERT INTO experiments (experiment_id, dataset_id, kind, config, results, summary) "
        "VALUES (?, ?, 'ablation', ?, ?, ?)",
        [experiment_id, info.dataset_id, json.dumps({
            "train": config.model_dump(mode="json"), "seeds": seeds, "variants": variants,
            "cold_max_degree": cold_max_degree, "tune": tune, "baseline": baseline,
            "n_cold_pairs": len(cold), "n_test_pairs": len(any_view.test),
            "sources": {v: views[VARIANTS[v].view].sources for v in variants}}),
         json.dumps(results), json.dumps(summary)])
    return experiment_id, table


def _mean_std(values: list[float]) -> str:
    arr = np.array(values, dtype=float)
    if len(arr) == 0 or np.isnan(arr).all():
        return "-"
    std = arr.std(ddof=1) if len(arr) > 1 else 0.0
    return f"{arr.mean():.4f} ± {std:.4f}"


def summarize(scored: dict[str, list[_Scored]], chosen: dict[str, dict], baseline: str,
              n_boot: int = 2000) -> tuple[pl.DataFrame, list[dict]]:
    """The printed table (strings) and the stored summary (numbers) per variant."""
    rows, summary = [], []
    base = scored.get(baseline)
    for variant, runs_ in scored.items():
        row = {"variant": variant, "seeds": len(runs_),
               "setting": ", ".join(f"{k}={v:g}" for k, v in chosen[variant].items()) or "-"}
        stats: dict = {"variant": variant, "seeds": len(runs_), "tuned": chosen[variant]}
        for part in ("test", "cold"):
            for m in METRICS:
                key = f"{part} {m}"
                values = [float(s.per_user[key].mean()) if len(s.per_user[key]) else np.nan
                          for s in runs_]
                row[key] = _mean_std(values)
                stats[key] = values
        for m in METRICS:
            key = f"test {m}"
            if base is None or variant == baseline:
                row[f"Δ{m} vs {baseline} [95% CI]"] = "-"
                continue
            n = min(len(runs_), len(base))  # matched seeds
            ci = paired_bootstrap(np.stack([s.per_user[key] for s in runs_[:n]]),
                                  np.stack([s.per_user[key] for s in base[:n]]), n_boot)
            stats[f"ci {m}"] = ci.as_dict()
            row[f"Δ{m} vs {baseline} [95% CI]"] = (
                f"{ci.rel:+.1%} [{ci.rel_lo:+.1%}, {ci.rel_hi:+.1%}]")
        rows.append(row)
        summary.append(stats)
    return pl.DataFrame(rows), summary
