"""The enriched graph on tiny data: nodes, edges and adjacency checked by hand; semantic IDs
deterministic; language-initialized items; bad input refused before anything is written."""

import json

import numpy as np
import pytest
import torch

from workbench.errors import StoreError, ViewError
from workbench.graph.enriched import build_enriched_graph, merge_key, normalize_value
from workbench.graph.ingest import IngestOptions, ingest
from workbench.graph.semantic_ids import code_prefixes, residual_kmeans
from workbench.graph.train import TrainConfig, train
from workbench.graph.views import load_graph
from tests.conftest import write
from tests.graph.helpers import fake_profile_embeddings

FAST = dict(max_epochs=2, min_epochs=1, eval_every=1, batch_size=64, embedding_dim=4)


@pytest.fixture
def shop(store, tmp_path):
    """4 users, 4 items; brands A (items 0, 1), B (items 2, 3); item 3's category is shared
    by nobody, and "all" is on every item (a hub)."""
    d = tmp_path / "shop"
    write(d / "shop.inter", "user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
        f"u{u}\ti{i}\t{t}\n" for t, (u, i) in enumerate(
            [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 3), (2, 1), (2, 2), (2, 3),
             (3, 0), (3, 2), (3, 3)])))
    write(d / "shop.item", "item_id:token\ttitle:token\tbrand:token\tcat:token\tprice:float\n"
          "i0\tLipstick\tAcme &amp; Co\tall\t1.0\ni1\tGloss\tACME & co.\tall\t1.0\n"
          "i2\tShampoo\tBeta\tall\t4.0\ni3\tSoap\tbeta \tall\t4.0\n")
    ingest(store, IngestOptions(path=d, split=None), tmp_path)
    return store


def test_values_are_normalized_and_near_duplicates_merged():
    assert normalize_value("  Acme &amp; Co. ") == "acme & co"
    assert merge_key(normalize_value("ACME & co.")) == merge_key(normalize_value("acme &co"))


def test_attribute_nodes_and_adjacency_by_hand(shop):
    summary = build_enriched_graph(shop, columns=["brand", "cat"], code_levels=0,
                                   max_item_share=0.9)
    nodes = shop.frame("SELECT node_idx, node_type, value, source, n_items FROM graph_nodes "
                       "ORDER BY node_idx")
    # brand: "Acme &amp; Co" and "ACME & co." are one node, "Beta"/"beta " one; cat "all"
    # is on every item (> 90%) and is dropped as a hub
    assert nodes.select("node_type", "value", "n_items").rows() == [
        ("brand", "acme & co", 2), ("brand", "beta", 2)]
    assert set(nodes["source"]) == {"column:brand"}
    assert summary["nodes"] == 2 and summary["edges"] == 4
    data = load_graph(shop, view="attributes")
    assert (data.num_users, data.num_items, data.num_extra_nodes) == (4, 4, 2)
    items = {k: i for i, k in shop.con.execute("SELECT item_idx, item_key FROM items")
             .fetchall()}
    pairs = sorted(zip(data.item_node_edges[0].tolist(), data.item_node_edges[1].tolist()))
    assert pairs == sorted([(items["i0"], 0), (items["i1"], 0), (items["i2"], 1),
                            (items["i3"], 1)])
    adj = data.normalized_adjacency().to_dense()
    deg = torch.zeros(10)
    for u, i in data.train.T.tolist():
        deg[u] += 1
        deg[4 + i] += 1
    for i, n in pairs:
        deg[4 + i] += 1
        deg[8 + n] += 1
    i0 = items["i0"]
    assert adj[4 + i0, 8].item() == pytest.approx(1 / (deg[4 + i0] * deg[8]).sqrt().item())
    assert adj[8, 4 + i0].item() == adj[4 + i0, 8].item()  # symmetric
    assert adj[8, 9].item() == 0.0 and adj[0, 8].item() == 0.0  # nodes touch items only
    # a weight on node edges changes A before normalization
    heavy = data.normalized_adjacency(2.0).to_dense()
    assert heavy[4 + i0, 8].item() == pytest.approx(
        2 / ((deg[4 + i0] + 1) * (deg[8] * 2)).sqrt().item())


def test_price_is_banded_and_lightgcn_trains_over_nodes(shop):
    build_enriched_graph(shop, columns=["price:band"], code_levels=0, max_item_share=0.9)
    values = shop.frame("SELECT value, n_items FROM graph_nodes ORDER BY value")
    assert values["n_items"].sum() == 4 and values.height >= 2
    result = train(shop, TrainConfig(**FAST), view="attributes")
    from workbench import runs

    run = runs.get_run(shop, result.run_id)
    assert run["status"] == "done" and run["view"] == "attributes"
    user_emb, item_emb = runs.load_embeddings(shop, result.run_id)
    assert (user_emb.shape[0], item_emb.shape[0]) == (4, 4)  # only users and items scored


def test_semantic_ids_are_deterministic_for_a_seed():
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32))
    a = residual_kmeans(x, levels=2, codebook_size=4, seed=7)
    assert a.shape == (40, 2) and int(a.max()) < 4
    assert torch.equal(a, residual_kmeans(x, levels=2, codebook_size=4, seed=7))
    # two tight clusters end up in two different level-1 codes
    two = torch.cat([torch.zeros(5, 2), torch.full((5, 2), 10.0)])
    codes = residual_kmeans(two, levels=1, codebook_size=2, seed=0)
    assert codes[:5, 0].unique().numel() == 1 and codes[5:, 0].unique().numel() == 1
    assert codes[0, 0] != codes[5, 0]
    assert code_prefixes(torch.tensor([[3, 1]])) == [["3", "3-1"]]


def test_codes_and_language_items_need_item_text(shop):
    with pytest.raises(ViewError, match="no item text embeddings: run `workbench augment "
                                        "embed --source item-text`"):
        build_enriched_graph(shop, code_levels=2)
    with pytest.raises(ViewError, match="embed --source item-text"):
        load_graph(shop, view="text")
    assert shop.con.execute("SELECT count(*) FROM graph_nodes").fetchone()[0] == 0
    fake_profile_embeddings(shop, "item", 4, dim=6, every=1, source_kind="item-text")
    build_enriched_graph(shop, columns=[], code_levels=2, codebook_size=2)
    codes = shop.frame("SELECT node_type, count(*) AS n FROM graph_nodes GROUP BY 1 "
                       "ORDER BY 1")
    assert codes["node_type"].to_list()[0] == "code:1"
    data = load_graph(shop, view="text-enriched")
    assert data.item_text.shape == (4, 6) and data.parts() == {"item text", "extra nodes"}
    with pytest.raises(ViewError, match="'lightgcn' cannot use the item text"):
        train(shop, TrainConfig(**FAST), view="text")
    result = train(shop, TrainConfig(**FAST, model="alpharec", loss="softmax",
                                     score="cosine", num_negatives=3), view="text")
    from workbench import runs

    run = runs.get_run(shop, result.run_id)
    assert json.loads(run["sources"]) == {"embed:item-text": "embed-item-text"}
    assert run["objectives"] == "softmax"
    users, items = runs.load_embeddings(shop, result.run_id)
    assert torch.allclose(items.norm(dim=1), torch.ones(4), atol=1e-5)  # cosine: unit length


def test_bad_columns_are_refused_before_anything_is_written(shop):
    with pytest.raises(ViewError, match="no item column colour; its columns: brand, cat, price"):
        build_enriched_graph(shop, columns=["colour"], code_levels=0)
    with pytest.raises(ViewError, match="unknown kind 'wavy'"):
        build_enriched_graph(shop, columns=["brand:wavy"], code_levels=0)
    shop.con.execute("UPDATE items SET text = json_object('brand', 'x', 'empty', '')")
    with pytest.raises(ViewError, match="'empty' of 'shop' has no value on any item"):
        build_enriched_graph(shop, columns=["empty"], code_levels=0)
    assert shop.con.execute("SELECT count(*) FROM graph_builds").fetchone()[0] == 0


def test_a_running_attribute_job_is_refused(shop):
    import os
    import socket

    shop.con.execute(
        "INSERT INTO jobs (job_id, dataset_id, kind, status, model, manifest, n_done, pid, "
        "host) VALUES ('item-attributes-x', 1, 'item-attributes', 'running', 'm', '{}', 1, ?, "
        "?)", [os.getpid(), socket.gethostname()])
    shop.con.execute("INSERT INTO item_attributes VALUES ('item-attributes-x', 1, 0, ?, "
                     "current_timestamp)", [json.dumps({"brand": "Acme"})])
    with pytest.raises(ViewError, match="item-attributes-x is still running"):
        build_enriched_graph(shop, code_levels=0)


def test_items_without_text_cannot_be_embedded(store, tmp_path):
    from workbench.augment.embed import latest_job

    write(tmp_path / "lg" / "train.txt", "0 0 1\n1 1 2\n")
    write(tmp_path / "lg" / "test.txt", "0 2\n1 0\n")
    ingest(store, IngestOptions(path=tmp_path / "lg"), tmp_path)
    with pytest.raises(StoreError, match="items have no text"):
        latest_job(store, 1, "item-text")


def test_llm_attribute_fields_become_nodes_with_their_job(shop):
    shop.con.execute(
        "INSERT INTO jobs (job_id, dataset_id, kind, status, model, manifest, n_done) "
        "VALUES ('item-attributes-y', 1, 'item-attributes', 'done', 'm', '{}', 4)")
    answers = [{"category": "Lip &amp; Face", "key_features": ["Matte", "matte "]},
               {"category": "lip & face", "key_features": ["Glossy"]},
               {"category": "Hair", "key_features": ["Matte"]},
               {"category": "unknown", "key_features": ["Glossy"]}]
    for idx, answer in enumerate(answers):
        shop.con.execute("INSERT INTO item_attributes VALUES ('item-attributes-y', 1, ?, ?, "
                         "current_timestamp)", [idx, json.dumps(answer)])
    summary = build_enriched_graph(shop, columns=[], code_levels=0, max_item_share=0.9)
    assert summary["attribute_job"] == "item-attributes-y"
    nodes = shop.frame("SELECT node_type, value, n_items, source FROM graph_nodes "
                       "ORDER BY node_type, value")
    assert nodes.select("node_type", "value", "n_items").rows() == [
        ("llm:category", "lip & face", 2), ("llm:key_features", "glossy", 2),
        ("llm:key_features", "matte", 2)]
    assert set(nodes["source"]) == {"job:item-attributes-y"}
    # "unknown" is no value, and "Hair" is on one item only


def test_an_unknown_attribute_job_is_refused(shop):
    with pytest.raises(StoreError, match="unknown job 'item-attributes-nope'"):
        build_enriched_graph(shop, attribute_job="item-attributes-nope", code_levels=0)
    assert shop.con.execute("SELECT count(*) FROM graph_builds").fetchone()[0] == 0
