"""Training runs as rows in the store: config, view, per-epoch history, metrics, embeddings.

A run row is written (status ``running``) before training starts and its epochs are
committed as they end, in short batched transactions (the trainer holds no lock while it
computes); only :func:`finish` marks a run ``done``, in one transaction with its metrics and
embeddings. A run that raised is ``failed``; one whose process was killed keeps ``running``
with a dead pid and is listed as ``interrupted``. No killed run ever looks finished.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import numpy as np
import polars as pl
import torch
from torch import Tensor

from workbench import processes
from workbench.store import Store, StoreError, live_status, to_matrix


def new_run_id(model: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{model}-{stamp}-{uuid.uuid4().hex[:6]}"


def start(store: Store, run_id: str, dataset_id: int, model: str, view: str, config: dict,
          seed: int, objectives: str | None = None, sources: dict | None = None) -> None:
    """Record a run as ``running``; ``sources`` are the enrichment jobs its view read."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO runs (run_id, dataset_id, model, view, objectives, config, seed, "
            "status, pid, host, pid_started, sources, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, current_timestamp)",
            [run_id, dataset_id, model, view, objectives, json.dumps(config), seed,
             *processes.this_process(), json.dumps(sources or {})])


def record_epochs(store: Store, run_id: str,
                  rows: list[tuple[int, float, float, float | None, dict | None]]) -> None:
    """Epoch rows (epoch, loss, train_s, eval_s, valid metrics) in one short transaction."""
    if not rows:
        return
    with store.transaction() as con:  # a failed write (disk full) is a clear StoreError
        con.executemany(
            "INSERT INTO run_epochs (run_id, epoch, loss, train_s, eval_s, valid_metrics) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [[run_id, e, loss, t, ev, json.dumps(v) if v else None]
             for e, loss, t, ev, v in rows])
        con.execute("UPDATE runs SET updated_at = current_timestamp WHERE run_id = ?",
                    [run_id])


def _vectors(entity: str, emb: Tensor) -> pl.DataFrame:
    values = emb.detach().float().cpu().numpy()
    return pl.DataFrame({
        "entity": [entity] * len(values),
        "entity_idx": np.arange(len(values), dtype=np.int32),
        "vector": pl.Series(values).cast(pl.List(pl.Float32)),
    })


def finish(store: Store, run_id: str, best_epoch: int | None, valid: dict, test: dict,
           wall_s: float, user_emb: Tensor, item_emb: Tensor) -> None:
    with store.transaction() as con:
        frame = pl.concat([_vectors("user", user_emb), _vectors("item", item_emb)])
        store.insert_frame("run_embeddings", frame.with_columns(pl.lit(run_id).alias("run_id")))
        con.execute(
            "UPDATE runs SET status = 'done', best_epoch = ?, valid_metrics = ?, "
            "test_metrics = ?, wall_s = ?, finished_at = current_timestamp WHERE run_id = ?",
            [best_epoch, json.dumps(valid), json.dumps(test), wall_s, run_id])


def fail(store: Store, run_id: str, error: str) -> None:
    """Mark a run failed. If even that cannot be written (disk full), the run stays
    ``running`` and reads ``interrupted`` once its process is gone; the caller's error is the
    one to report, so this never raises a StoreError of its own."""
    try:
        with store.transaction() as con:
            con.execute(
                "UPDATE runs SET status = 'failed', error = ?, finished_at = current_timestamp "
                "WHERE run_id = ? AND status = 'running'", [error[-2000:], run_id])
    except StoreError:
        pass


def list_runs(store: Store, dataset_id: int | None = None) -> pl.DataFrame:
    """Runs, newest first, one column per metric (``valid_recall@20``, ``test_ndcg@20``...);
    ``sources`` maps each input the run's view read to its job id (JSON text). A ``running``
    row whose process is gone reads ``interrupted``."""
    frame = store.frame(
        "SELECT r.run_id, d.name AS dataset, r.model, r.view, r.objectives, r.seed, r.status, "
        "r.best_epoch, r.valid_metrics, r.test_metrics, r.wall_s, r.sources, r.pid, r.host, "
        "r.pid_started, r.updated_at, r.started_at, r.finished_at "
        "FROM runs r JOIN datasets d USING (dataset_id) "
        "WHERE ? IS NULL OR r.dataset_id = ? ORDER BY r.started_at DESC",
        [dataset_id, dataset_id])
    metrics: dict[str, list] = {}
    for part in ("valid", "test"):
        decoded = [json.loads(v or "{}") for v in frame[f"{part}_metrics"]]
        for name in sorted({k for d in decoded for k in d}, key=_metric_order):
            metrics[f"{part}_{name}"] = [d.get(name) for d in decoded]
    frame = frame.drop("valid_metrics", "test_metrics").with_columns(
        pl.Series(name, values, dtype=pl.Float64) for name, values in metrics.items())
    frame = frame.with_columns(pl.col("sources").fill_null("{}"))
    return live_status(frame).drop("updated_at").select(
        [c for c in frame.columns if c not in ("pid", "host", "pid_started", "updated_at",
                                              "sources", "started_at", "finished_at")]
        + ["sources", "started_at", "finished_at"])


def _metric_order(name: str) -> tuple[str, int]:
    metric, _, k = name.partition("@")
    return metric, int(k) if k.isdigit() else 0


def get_run(store: Store, run_id: str) -> dict:
    """A run's row; ``latest`` names the newest finished run."""
    if run_id == "latest":
        row = store.con.execute("SELECT run_id FROM runs WHERE status = 'done' "
                                "ORDER BY finished_at DESC LIMIT 1").fetchall()
        if not row:
            raise StoreError("no finished run yet: `workbench train` makes one")
        run_id = row[0][0]
    row = store.con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        raise StoreError(f"unknown run {run_id!r}: `workbench runs` lists them")
    cols = [d[0] for d in store.con.description]
    return dict(zip(cols, row))


def load_embeddings(store: Store, run_id: str) -> tuple[Tensor, Tensor]:
    """The trained (user, item) embeddings of a finished run."""
    run = get_run(store, run_id)
    run_id = run["run_id"]
    if run["status"] != "done":
        raise StoreError(f"run {run_id!r} is {run['status']}, not done: it has no embeddings")
    out = []
    for entity in ("user", "item"):
        table = store.arrow("SELECT vector FROM run_embeddings WHERE run_id = ? AND entity = ? "
                            "ORDER BY entity_idx", [run_id, entity])
        out.append(torch.from_numpy(to_matrix(table.column("vector"))))
    return out[0], out[1]
