"""Embed jobs written straight into a store: profiles/attributes without an encoder."""

import json

import numpy as np
import polars as pl


def fake_profile_embeddings(store, entity, n, dim=16, every=2, source_kind=None):
    """An embed job over every other entity: the rest have no profile."""
    source_kind = source_kind or f"{entity}-profiles"
    job_id = f"embed-{source_kind}"
    store.con.execute(
        "INSERT INTO jobs (job_id, dataset_id, kind, status, model, manifest, n_total) "
        "VALUES (?, 1, 'embed', 'done', 'fake', ?, ?)",
        [job_id, json.dumps({"source_kind": source_kind}), n])
    rng = np.random.default_rng(0)
    idx = np.arange(0, n, every)
    store.insert_frame("embeddings", pl.DataFrame({
        "job_id": job_id, "dataset_id": 1, "entity": entity, "entity_idx": idx.astype(np.int32),
        "kind": "attributes" if source_kind == "item-attributes" else "profile",
        "vector": pl.Series(rng.normal(size=(len(idx), dim)).astype(np.float32)).cast(
            pl.List(pl.Float32))}))
