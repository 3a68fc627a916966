"""CLI commands of training: train, runs, recommend. Thin calls into graph.train / graph.runs."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench import runs
from workbench.console import console, fail, open_store, read_store
from workbench.graph.evaluate import top_k
from workbench.store import StoreError
from workbench.graph.experiments import LLM_VARIANTS, VARIANTS
from workbench.graph.models.registry import models
from workbench.graph.train import TrainConfig, Trainer
from workbench.graph.views import ViewError, load_graph, views


def parse_config(model: str, epochs: int | None, seed: int | None,
                 settings: list[str] | None, device: str | None = None) -> TrainConfig:
    """A TrainConfig from CLI options and `--set KEY=VALUE` pairs (values parsed as JSON)."""
    overrides: dict = {"model": model}
    if device is not None:
        overrides["device"] = device
    if epochs is not None:
        overrides["max_epochs"] = epochs
    if seed is not None:
        overrides["seed"] = seed
    for item in settings or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--set takes KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    try:
        return TrainConfig(**overrides)
    except ValidationError as exc:
        fail("invalid training settings: " + "; ".join(
            (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ") for e in exc.errors()))


def train_command(
    model: Annotated[str, typer.Option(help="Model: " + "; ".join(
        f"{name} ({spec.summary})" for name, spec in models().items()) + ".")] = "lightgcn",
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
        = None,
    view: Annotated[str, typer.Option(help="Graph view: " + "; ".join(
        f"{name} ({spec.summary})" for name, spec in views().items()) + ".")]
        = "base",
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the run.")] = None,
    device: Annotated[Optional[str], typer.Option(
        help="cpu, cuda, cuda:N or auto (the GPU when there is one). Default: cpu.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Any training setting, KEY=VALUE (repeatable), e.g. --set lr=0.002; "
                      "`workbench settings` lists them")] = None,
) -> None:
    """Train a model on a dataset's training split; select on validation; test once."""
    config = parse_config(model, epochs, seed, set_, device)
    metric = config.select_metric
    with open_store() as store:
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                            TimeElapsedColumn(), console=console, transient=True)
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
            if not trainer.spec.trainable:  # nothing to train
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
    table = Table("run", "dataset", "model", "view", "losses", "inputs (jobs read)", "seed",
                  "status", "best epoch", "valid R@20", "test R@20", "test N@20", "wall s")
    for r in frame.iter_rows(named=True):
        valid = json.loads(r["valid_metrics"] or "{}")
        test = json.loads(r["test_metrics"] or "{}")
        fmt = lambda d, k: f"{d[k]:.4f}" if k in d else "-"  # noqa: E731
        inputs = ", ".join(json.loads(r["sources"] or "{}").values()) or "-"
        table.add_row(r["run_id"], r["dataset"], r["model"], r["view"],
                      r["objectives"] or "-", inputs, str(r["seed"]),
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


experiment_app = typer.Typer(help="Experiments over several runs.", no_args_is_help=True)


@experiment_app.command("ablation")
def ablation_command(
    dataset: Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
        = None,
    seeds: Annotated[int, typer.Option(help="Seeds per variant (2020, 2021, ...).")] = 3,
    variants: Annotated[str, typer.Option(help="Comma-separated variants: " + "; ".join(
        f"{name} ({v.summary})" for name, v in VARIANTS.items()) + ".")]
        = ",".join(LLM_VARIANTS),
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs per run.")] = None,
    cold_max_degree: Annotated[int, typer.Option(
        help="Cold items: at most this many training interactions.")] = 5,
    tune: Annotated[bool, typer.Option(
        help="Pick each variant's own weight from its grid on validation (first seed).")]
        = True,
    baseline: Annotated[str, typer.Option(help="The variant the others are compared with.")]
        = "base",
    device: Annotated[Optional[str], typer.Option(
        help="cpu, cuda, cuda:N or auto (the GPU when there is one). Default: cpu.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Any training setting, KEY=VALUE (repeatable), for every variant.")]
        = None,
) -> None:
    """Train the variants with several seeds; print and store the table with paired 95% CIs."""
    from workbench.graph.experiments import run_ablation

    config = parse_config("lightgcn", epochs, None, set_, device)

    def show(r: dict) -> None:
        tuned = ", ".join(f"{k}={v:g}" for k, v in r["tuned"].items())
        console.print(f"{r['variant']:12} seed {r['seed']}{' ' + tuned if tuned else ''}: "
                      f"valid {config.select_metric} {r['valid'].get(config.select_metric, 0):.4f}"
                      f", test recall@20 {r['test']['recall@20']:.4f} "
                      f"(best epoch {r['best_epoch']})", highlight=False)

    with open_store() as store:
        experiment_id, table = run_ablation(
            store, dataset, config, [2020 + i for i in range(seeds)],
            [v.strip() for v in variants.split(",") if v.strip()], cold_max_degree, tune,
            baseline, on_run=show)
    console.print(f"experiment [bold]{experiment_id}[/bold]: validation-selected test "
                  "metrics, mean ± std over seeds; cold = held-out items with at most "
                  f"{cold_max_degree} training interactions; Δ = relative difference to "
                  f"{baseline} with a paired bootstrap 95% interval over users")
    out = Table(*table.columns)
    for row in table.iter_rows():
        out.add_row(*map(str, row))
    console.print(out)


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")
    app.command("train")(train_command)
    app.command("runs")(runs_command)
    app.command("recommend")(recommend_command)
