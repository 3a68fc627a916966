"""CLI commands of training: train, runs, recommend. Thin calls into graph.train / graph.runs."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from graph import runs
from graph.cli import console, fail, open_store, read_store
from graph.evaluate import top_k
from graph.store import StoreError
from graph.train import TrainConfig, Trainer
from graph.views import ViewError, load_graph


def train_command(
    model: Annotated[str, typer.Option(help="lightgcn, mf (BPR matrix factorisation) or pop.")]
        = "lightgcn",
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
        = None,
    view: Annotated[str, typer.Option(help="Graph view: which edges and triples to use.")]
        = "base",
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the run.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Any TrainConfig field, KEY=VALUE (repeatable), e.g. --set lr=0.002")]
        = None,
) -> None:
    """Train a model on a dataset's training split; select on validation; test once."""
    overrides: dict = {"model": model}
    if epochs is not None:
        overrides["max_epochs"] = epochs
    if seed is not None:
        overrides["seed"] = seed
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--set takes KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    try:
        config = TrainConfig(**overrides)
    except ValidationError as exc:
        fail("invalid training settings:\n" + "\n".join(
            f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    metric = config.select_metric
    with open_store() as store:
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                            TimeElapsedColumn(), console=console)
        task = progress.add_task(f"{config.model}", total=config.max_epochs, status="")
        best = {"v": None}

        def on_epoch(epoch: int, loss: float, valid: dict | None) -> None:
            if valid:
                best["v"] = max(best["v"] or 0.0, valid[metric])
            shown = f"loss {loss:.4f}" + (f"  best valid {metric} {best['v']:.4f}"
                                          if best["v"] is not None else "")
            progress.update(task, completed=epoch, status=shown)

        try:
            data = load_graph(store, dataset, view)  # fails clearly before any work
            trainer = Trainer(store, config, data, on_epoch=on_epoch)
            if config.model == "pop":  # nothing to train
                result = trainer.fit()
            else:
                with progress:
                    result = trainer.fit()
        except (StoreError, ViewError, ValueError) as exc:
            fail(str(exc))
    console.print(f"run [bold]{result.run_id}[/bold]: best epoch {result.best_epoch}, "
                  f"{result.wall_s:.1f} s")
    table = Table("metric", "valid (best epoch)", "test")
    for name in result.test:
        table.add_row(name, f"{result.valid[name]:.4f}", f"{result.test[name]:.4f}")
    console.print(table)


def runs_command(
    dataset: Annotated[Optional[str], typer.Option(help="Only this dataset's runs.")] = None,
) -> None:
    """List training runs with status and validation/test Recall@20 and NDCG@20."""
    with read_store() as store:
        try:
            did = store.dataset(dataset).dataset_id if dataset else None
        except StoreError as exc:
            fail(str(exc))
        frame = runs.list_runs(store, did)
    table = Table("run", "dataset", "model", "view", "seed", "status", "best epoch",
                  "valid R@20", "test R@20", "test N@20", "wall s")
    for r in frame.iter_rows(named=True):
        valid = json.loads(r["valid_metrics"] or "{}")
        test = json.loads(r["test_metrics"] or "{}")
        fmt = lambda d, k: f"{d[k]:.4f}" if k in d else "-"  # noqa: E731
        table.add_row(r["run_id"], r["dataset"], r["model"], r["view"], str(r["seed"]),
                      r["status"], str(r["best_epoch"] or "-"), fmt(valid, "recall@20"),
                      fmt(test, "recall@20"), fmt(test, "ndcg@20"),
                      f"{r['wall_s']:.1f}" if r["wall_s"] else "-")
    console.print(table)


def recommend_command(
    user: Annotated[str, typer.Argument(help="User id as in the source data.")],
    run: Annotated[str, typer.Option("--run", help="Run id (see `workbench runs`), or `latest`.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
) -> None:
    """A user's top-K items from a finished run (training items excluded), with titles."""
    with read_store() as store:
        try:
            info = runs.get_run(store, run)
            name = store.con.execute("SELECT name FROM datasets WHERE dataset_id = ?",
                                     [info["dataset_id"]]).fetchone()[0]
            row = store.con.execute("SELECT user_idx FROM users WHERE dataset_id = ? AND "
                                    "user_key = ?", [info["dataset_id"], user]).fetchone()
            if row is None:
                fail(f"unknown user {user!r} in dataset {name!r}")
            user_emb, item_emb = runs.load_embeddings(store, info["run_id"])
            data = load_graph(store, name, require_valid=False)
        except (StoreError, ViewError) as exc:
            fail(str(exc))
        import numpy as np

        ranked = top_k(user_emb, item_emb, np.array([row[0]]), k, [data.train_csr])[0]
        held = set(data.valid.items[data.valid.indptr[row[0]]:data.valid.indptr[row[0] + 1]])
        held |= set(data.test.items[data.test.indptr[row[0]]:data.test.indptr[row[0] + 1]])
        names = {idx: (key, title) for idx, key, title in store.con.execute(
            "SELECT item_idx, item_key, coalesce(title, '') FROM items WHERE dataset_id = ? AND "
            "item_idx IN (SELECT unnest(?))", [info["dataset_id"], ranked.tolist()]).fetchall()}
    table = Table("rank", "item", "title", "held out (valid/test)")
    for rank, idx in enumerate(ranked.tolist(), start=1):
        key, title = names[idx]
        table.add_row(str(rank), key, title, "yes" if idx in held else "")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("runs")(runs_command)
    app.command("recommend")(recommend_command)
