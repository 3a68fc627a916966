"""LLMRec synthetic edges: candidates from a run, answers mapped to triples, bad answers."""

import json

import pytest

from workbench.augment.edges import EdgesJob, choice_schema
from workbench.augment.engine import SamplingSettings
from workbench.augment.jobs import JobRunner
from workbench.store import StoreError
from workbench.graph.train import TrainConfig, train
from workbench.graph.views import ViewError, load_graph
from tests.augment.fakes import FakeEngine

FAST = dict(max_epochs=2, min_epochs=1, eval_every=1, batch_size=64, embedding_dim=8)


def answer(liked, disliked):
    return lambda c, a: json.dumps({"liked": liked, "disliked": disliked, "reason": "fits"})


def test_schema_bounds_and_different_choice():
    schema = choice_schema(10)
    schema.model_validate_json('{"liked": 1, "disliked": 10, "reason": "r"}')
    for bad in ('{"liked": 0, "disliked": 2, "reason": "r"}',
                '{"liked": 3, "disliked": 11, "reason": "r"}',
                '{"liked": 4, "disliked": 4, "reason": "r"}'):
        with pytest.raises(ValueError):
            schema.model_validate_json(bad)


def test_edges_become_triples_from_the_candidates(toy_store):
    run = train(toy_store, TrainConfig(**FAST))
    job = EdgesJob(run.run_id, k=5)
    report = JobRunner(toy_store, FakeEngine(answer(2, 5)), SamplingSettings(), "fake").run(
        job, toy_store.dataset())
    assert report.n_done == 30
    edges = toy_store.frame("SELECT * FROM synthetic_edges")
    train_pairs = set(toy_store.con.execute(
        "SELECT user_idx, item_idx FROM interactions WHERE split = 'train'").fetchall())
    for row in edges.iter_rows(named=True):
        cands = row["candidates"]
        assert len(cands) == 5 and not any((row["user_idx"], c) in train_pairs for c in cands)
        assert row["pos_item_idx"] == cands[1] and row["neg_item_idx"] == cands[4]
        assert row["source_run_id"] == run.run_id and row["reason"] == "fits"
    # the candidates are the run's top-5 for that user
    from workbench import runs
    from workbench.graph.evaluate import top_k
    import numpy as np

    u, i = runs.load_embeddings(toy_store, run.run_id)
    data = load_graph(toy_store)
    first = edges.sort("user_idx").row(0, named=True)
    assert top_k(u, i, np.array([first["user_idx"]]), 5, [data.train_csr])[0].tolist() == \
        first["candidates"]


def test_same_choice_twice_is_rejected(toy_store):
    run = train(toy_store, TrainConfig(**FAST))
    report = JobRunner(toy_store, FakeEngine(answer(3, 3)), SamplingSettings(), "fake",
                       max_attempts=2).run(EdgesJob(run.run_id, k=5), toy_store.dataset())
    assert report.n_done == 0
    reasons = toy_store.frame("SELECT reason FROM rejected_outputs")["reason"]
    assert reasons.len() == 60 and reasons.str.contains("different candidates").all()


def test_unknown_run_is_a_clear_error(toy_store):
    with pytest.raises(StoreError, match="unknown run 'nope'"):
        EdgesJob("nope").work_items(toy_store, toy_store.dataset())


def test_llmrec_views_need_and_use_edges(toy_store):
    with pytest.raises(ViewError, match="augment edges --run"):
        load_graph(toy_store, view="llmrec")
    run = train(toy_store, TrainConfig(**FAST))
    JobRunner(toy_store, FakeEngine(answer(1, 2)), SamplingSettings(), "fake").run(
        EdgesJob(run.run_id, k=5), toy_store.dataset())
    data = load_graph(toy_store, view="llmrec")
    assert data.extra_triples.shape == (3, 30) and data.extra_edges.size(1) == 0
    prop = load_graph(toy_store, view="llmrec-prop")
    base = load_graph(toy_store)
    assert prop.edge_index().size(1) == base.edge_index().size(1) + 2 * 30
    result = train(toy_store, TrainConfig(**FAST), view="llmrec")
    assert result.test["recall@20"] >= 0.0
