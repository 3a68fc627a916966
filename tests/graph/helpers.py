"""Test helpers: embed jobs written straight into a store, and loss-term batches."""

import json

import numpy as np
import polars as pl
import torch

from workbench.graph.train import Batch

# a few quick epochs on the toy data (training tests)
FAST = dict(max_epochs=6, min_epochs=1, eval_every=2, patience=5, batch_size=64,
            embedding_dim=16)


def fake_profile_embeddings(store, entity, n, dim=16, every=2, source_kind=None, job_id=None):
    """An embed job over every other entity: the rest have no profile."""
    source_kind = source_kind or f"{entity}-profiles"
    job_id = job_id or f"embed-{source_kind}"
    store.con.execute(
        "INSERT INTO jobs (job_id, dataset_id, kind, status, model, manifest, n_total, n_done) "
        "VALUES (?, 1, 'embed', 'done', 'fake', ?, ?, ?)",
        [job_id, json.dumps({"source_kind": source_kind}), n, len(range(0, n, every))])
    rng = np.random.default_rng(0)
    idx = np.arange(0, n, every)
    store.insert_frame("embeddings", pl.DataFrame({
        "job_id": job_id, "dataset_id": 1, "entity": entity, "entity_idx": idx.astype(np.int32),
        "kind": "attributes" if source_kind == "item-attributes" else "profile",
        "vector": pl.Series(rng.normal(size=(len(idx), dim)).astype(np.float32)).cast(
            pl.List(pl.Float32))}))


def batch_for(model, adj=None, users=(0, 1, 2, 3), pos=(0, 1, 2, 3)) -> Batch:
    """What a loss term sees of one training step (negatives = positives, unused)."""
    user_emb, item_emb = model(adj)

    class Data:
        num_users = model.num_users

    return Batch(torch.tensor(users), torch.tensor(pos), torch.tensor(pos), user_emb,
                 item_emb, model, Data(), adj, torch.Generator().manual_seed(0))
