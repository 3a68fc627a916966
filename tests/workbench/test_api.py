"""The Python API: the docs' notebook session as written, each listing, the graph exports,
pins, and errors of the CLI's family."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch_geometric.data import HeteroData

import workbench as wb
from workbench.data import TOY_DIR
from tests.graph.helpers import fake_profile_embeddings

API_DOC = Path(__file__).parents[2] / "docs" / "api.md"
FAST = {"epochs": 2, "min_epochs": 1, "eval_every": 1}


def docs_block(heading: str) -> str:
    section = API_DOC.read_text().split(f"## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_notebook_session_of_the_docs_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(docs_block("A notebook session"), str(API_DOC), "exec"), namespace)
    run, users, items = namespace["run"], namespace["users"], namespace["items"]
    assert (tmp_path / "workbench-home" / "workbench.duckdb").exists()
    assert run.test["recall@20"] > 0.1  # LightGCN after 20 epochs on MovieLens-100K
    assert users.shape == (943, 64) and items.shape == (1682, 64)
    printed = capsys.readouterr().out
    assert run.run_id[:20] in printed and "held_out" in printed
    hetero, graph = namespace["hetero"], namespace["G"]
    assert isinstance(hetero, HeteroData) and hetero["user"].num_nodes == 943
    assert hetero["user", "rates", "item"].edge_index.size(1) == 80_808
    assert isinstance(graph, nx.Graph) and graph.number_of_edges() == 80_808
    # the same run read back through the other calls
    ws = namespace["ws"]
    assert ws.evaluate(run.run_id)["recall@20"] == pytest.approx(run.test["recall@20"],
                                                                 abs=1e-6)
    assert ws.runs()["test_recall@20"][0] == pytest.approx(run.test["recall@20"])


@pytest.fixture
def ws(workbench_home) -> wb.Workspace:
    ws = wb.Workspace()  # from $WORKBENCH_HOME, like the CLI
    ws.ingest(TOY_DIR, split="loo")
    return ws


def test_listings_are_frames_and_empty_ones_have_columns(ws):
    assert ws.datasets()["name"].to_list() == ["toy"]
    assert ws.jobs().height == 0 and "job_id" in ws.jobs().columns
    assert ws.runs().height == 0 and "run_id" in ws.runs().columns
    stats = ws.stats()
    assert stats["dataset"]["name"] == "toy" and {s["split"] for s in stats["splits"]} == {
        "train", "valid", "test"}


def test_enriched_hetero_data_and_networkx(ws):
    with ws.store(write=True) as store:
        fake_profile_embeddings(store, "item", 24, dim=8, every=1, source_kind="item-text")
    built = ws.build_graph(codebook_size=4)
    data = ws.hetero_data(view="text-enriched")
    node_types = set(built["by_type"])
    assert node_types <= set(data.node_types) and "code:1" in data.node_types
    for node_type, n in built["by_type"].items():
        assert data[node_type].num_nodes == n and len(data[node_type].name) == n
    n_edges = sum(data["item", "has", t].edge_index.size(1) for t in node_types)
    assert n_edges == built["edges"]
    for t in node_types:  # every edge points at a node of its type
        index = data["item", "has", t].edge_index
        assert int(index[1].max()) < data[t].num_nodes and int(index[0].max()) < 24
    assert data["item"].x.shape == (24, 8)  # the item text embeddings
    assert data.sources["embed:item-text"]
    graph = ws.networkx()
    assert sum(1 for _, k in graph.nodes(data="kind") if k == "item") == 24
    assert graph.number_of_edges() == built["edges"]


def test_train_recommend_and_pins_record_what_a_run_read(ws):
    import time

    with ws.store(write=True) as store:
        fake_profile_embeddings(store, "item", 24, dim=8, every=1, source_kind="item-text",
                                job_id="embed-older")
        time.sleep(0.01)
        fake_profile_embeddings(store, "item", 24, dim=8, every=1, source_kind="item-text",
                                job_id="embed-newer")
        # the older job is resumed: updated last, still not what a view resolves to
        store.con.execute("UPDATE jobs SET updated_at = now() + INTERVAL 1 HOUR "
                          "WHERE job_id = 'embed-older'")
    first, jobs = "embed-older", ["embed-older", "embed-newer"]
    newest = ws.train("alpharec", view="text", loss="softmax", score="cosine", **FAST)
    pinned = ws.train("alpharec", view="text", loss="softmax", score="cosine",
                      pins=ws.pins(features_jobs=[first]), **FAST)
    sources = dict(zip(ws.runs()["run_id"], ws.runs()["sources"]))
    assert f'"{jobs[1]}"' in sources[newest.run_id] and f'"{first}"' in sources[pinned.run_id]
    top = ws.recommend(pinned.run_id, user="1", k=3)
    assert top["rank"].to_list() == [1, 2, 3] and top.columns == ["rank", "item", "title",
                                                                 "held_out"]


def test_wrong_arguments_raise_the_cli_error_family(ws):
    with pytest.raises(wb.ConfigError, match="max_epochs must be >= 1"):
        ws.train("lightgcn", epochs=0)
    with pytest.raises(wb.ConfigError, match="unknown model 'nope'.*lightgcn"):
        ws.train("nope")
    with pytest.raises(wb.ConfigError, match="lr_typo"):
        ws.train("lightgcn", lr_typo=0.1)
    with pytest.raises(wb.StoreError, match="unknown dataset"):
        ws.runs("no-such-dataset")
    with pytest.raises(wb.ViewError, match="unknown graph view 'nope'"):
        ws.graph(view="nope")
    run = ws.train("pop")
    with pytest.raises(wb.ConfigError, match="k must be at least 1"):
        ws.recommend(run.run_id, user="1", k=0)
    with pytest.raises(wb.StoreError, match="unknown user 'zz'"):
        ws.recommend(run.run_id, user="zz")
    with pytest.raises(wb.StoreError, match="unknown job 'nope'"):
        ws.pins(edges_job="nope")
    with pytest.raises(wb.ConfigError, match="unknown job kind 'nope'"):
        ws.augment("nope")


def test_embeddings_are_the_stored_ones(ws):
    run = ws.train("mf", **FAST)
    users, items = ws.embeddings(run.run_id)
    assert isinstance(users, torch.Tensor) and users.shape[0] == ws.datasets()["n_users"][0]
    assert torch.allclose(users, run.embeddings[0]) and torch.allclose(items, run.embeddings[1])
