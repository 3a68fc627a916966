"""The ablation on the toy dataset, with scripted edges and synthetic profile embeddings."""

import json

import numpy as np
import pytest

from workbench.augment.edges import EdgesJob
from workbench.augment.engine import SamplingSettings
from workbench.augment.jobs import JobRunner
from workbench.graph.experiments import cold_truth, run_ablation
from workbench.graph.train import TrainConfig, train
from workbench.graph.views import HeldOut, ViewError
from tests.augment.fakes import FakeEngine
from tests.graph.helpers import fake_profile_embeddings

FAST = dict(max_epochs=3, min_epochs=1, eval_every=1, batch_size=64, embedding_dim=8)


def test_cold_truth_keeps_low_degree_items():
    truth = HeldOut.from_pairs(np.array([0, 0, 1]), np.array([0, 2, 1]), 2)
    train_items = np.array([0, 0, 0, 1, 2, 2])  # degrees: item0 3, item1 1, item2 2
    cold = cold_truth(truth, train_items, 3, max_degree=2)
    assert cold.items.tolist() == [2, 1] and cold.indptr.tolist() == [0, 1, 2]


def test_ablation_table_over_variants_and_seeds(toy_store):
    with pytest.raises(ViewError, match="has none: run `workbench augment edges"):
        run_ablation(toy_store, None, TrainConfig(**FAST), [1])
    with pytest.raises(ViewError, match="no embedded item-attributes"):
        run_ablation(toy_store, None, TrainConfig(**FAST), [1], variants=["base", "+feat"])
    with pytest.raises(ViewError, match="no embedded user-profiles"):
        run_ablation(toy_store, None, TrainConfig(**FAST), [1], variants=["base", "+con"])
    base = train(toy_store, TrainConfig(**FAST))
    JobRunner(toy_store, FakeEngine(lambda c, a: json.dumps(
        {"liked": 1, "disliked": 5, "reason": "r"})), SamplingSettings(), "fake").run(
        EdgesJob(base.run_id, k=5), toy_store.dataset())
    fake_profile_embeddings(toy_store, "user", 30)
    fake_profile_embeddings(toy_store, "item", 24)
    fake_profile_embeddings(toy_store, "item", 24, every=3, source_kind="item-attributes")
    experiment_id, table = run_ablation(toy_store, None, TrainConfig(**FAST), [1, 2],
                                        cold_max_degree=12, tune=False)
    assert table["variant"].to_list() == ["base", "+edges", "+feat", "+con", "+gen", "+all"]
    assert set(table["seeds"]) == {2}
    assert all("±" in v for v in table["test recall@20"])
    assert all("±" in v for v in table["cold ndcg@20"])
    ci = table["Δrecall@20 vs base [95% CI]"].to_list()
    assert ci[0] == "-" and all(v.count("%") == 3 for v in ci[1:])
    assert all(r["n_cold_pairs"] > 0 for r in json.loads(toy_store.con.execute(
        "SELECT results FROM experiments").fetchone()[0]))
    stored = toy_store.con.execute("SELECT results FROM experiments WHERE experiment_id = ?",
                                   [experiment_id]).fetchone()[0]
    results = json.loads(stored)
    assert len(results) == 12 and {r["seed"] for r in results} == {1, 2}
    runs = {r[0]: r[1:] for r in toy_store.con.execute(
        "SELECT run_id, view, objectives FROM runs").fetchall()}
    got = {r["variant"]: runs[r["run_id"]] for r in results}
    assert got == {"base": ("base", "bpr"), "+edges": ("llmrec", "bpr"),
                   "+feat": ("features", "bpr+mae"), "+con": ("base", "bpr+con"),
                   "+gen": ("base", "bpr+gen"), "+all": ("llmrec-features", "bpr+con+gen+mae")}
    # the variants really differ: +con trains extra parameters and lands elsewhere
    by = {(r["variant"], r["seed"]): r["test"]["ndcg@20"] for r in results}
    assert by[("base", 1)] != by[("+all", 1)] or by[("base", 2)] != by[("+all", 2)]


def test_graph_variants_are_tuned_on_validation_and_compared_with_cis(toy_store):
    from workbench.graph.enriched import build_enriched_graph

    with pytest.raises(ViewError, match="no enriched graph: run `workbench graph build`"):
        run_ablation(toy_store, None, TrainConfig(**FAST), [1], variants=["base", "+attr"])
    fake_profile_embeddings(toy_store, "item", 24, dim=8, every=1, source_kind="item-text")
    build_enriched_graph(toy_store, codebook_size=4)
    experiment_id, table = run_ablation(toy_store, None, TrainConfig(**FAST), [1, 2],
                                        variants=["base", "+attr", "+lang"], n_boot=200)
    results = json.loads(toy_store.con.execute("SELECT results FROM experiments").fetchone()[0])
    # 3 grid values on the first seed, then the chosen value on the second seed
    assert [r["variant"] for r in results].count("+lang") == 4
    summary = json.loads(toy_store.con.execute("SELECT summary FROM experiments").fetchone()[0])
    for variant in ("base", "+attr", "+lang"):
        tuning = [r for r in results if r["variant"] == variant and r.get("tuning")]
        best = max(tuning, key=lambda r: r["valid"]["recall@20"])
        chosen = next(s["tuned"] for s in summary if s["variant"] == variant)
        assert chosen == best["tuned"]  # picked on validation, never on test
        second = next(r for r in results if r["variant"] == variant and r["seed"] == 2)
        assert second["tuned"] == chosen
    lang = next(s for s in summary if s["variant"] == "+lang")
    assert lang["ci recall@20"]["lo"] <= lang["ci recall@20"]["mean_diff"] \
        <= lang["ci recall@20"]["hi"]
    runs = dict(toy_store.con.execute("SELECT run_id, model FROM runs").fetchall())
    assert {runs[r["run_id"]] for r in results if r["variant"] == "+lang"} == {"alpharec"}
    assert table["setting"].to_list()[2].startswith("temperature=")


def test_unknown_variant_is_refused_before_training(toy_store):
    with pytest.raises(ValueError, match=r"unknown variants \['\+magic'\]"):
        run_ablation(toy_store, None, TrainConfig(**FAST), [1], variants=["base", "+magic"])
    assert toy_store.con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_a_baseline_outside_the_variants_is_refused_before_training(toy_store):
    with pytest.raises(ValueError, match="baseline 'base' is not among the variants"):
        run_ablation(toy_store, None, TrainConfig(**FAST), [1], variants=["+con"])
    assert toy_store.con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
