"""CLI commands of training: train, runs, recommend. Thin calls into graph.train / graph.runs."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench import runs
from workbench.console import (AsCsv, AsJson, console, emit, fail, open_store,
                               print_json, read_store, with_choices)
from workbench.graph.experiments import LLM_VARIANTS, VARIANTS
from workbench.graph.models.registry import models
from workbench.graph.recommend import recommend
from workbench.graph.train import TrainConfig, Trainer, make_config
from workbench.graph.views import load_graph, pin, views

EdgesJob = Annotated[Optional[str], typer.Option(
    help="Pin the edges job the view reads (default: the newest with output).")]
FeaturesJob = Annotated[Optional[list[str]], typer.Option(
    help="Pin an embedding job the view reads, filed under the source it embeds "
         "(repeatable; default: the newest of each source).")]


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
    return make_config(**overrides)


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
    edges_job: EdgesJob = None,
    features_job: FeaturesJob = None,
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

        pins = pin(store, dataset, edges_job, features_job or ())
        data = load_graph(store, dataset, view, pins=pins)  # fails clearly before any work
        trainer = Trainer(store, config, data, on_epoch=on_epoch)
        if not trainer.spec.trainable:  # nothing to train
            result = trainer.fit()
        else:
            with progress:
                result = trainer.fit()
    console.print(f"run [bold]{result.run_id}[/bold]: best epoch {result.best_epoch}, "
                  f"{result.wall_s:.1f} s")
    table = Table("metric", "valid (best epoch)", "test")
    for name in result.test:
        table.add_row(name, f"{result.valid[name]:.4f}", f"{result.test[name]:.4f}")
    console.print(table)


def runs_command(
    dataset: Annotated[Optional[str], typer.Option(help="Only this dataset's runs.")] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """List training runs with status, validation/test metrics and the jobs they read."""
    with read_store() as store:
        did = store.dataset(dataset).dataset_id if dataset else None
        frame = runs.list_runs(store, did)

    def table() -> Table:
        out = Table("run", "dataset", "model", "view", "losses", "inputs (jobs read)", "seed",
                    "status", "best epoch", "valid R@20", "test R@20", "test N@20", "wall s")
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        for r in frame.iter_rows(named=True):
            inputs = ", ".join(json.loads(r["sources"]).values()) or "-"
            out.add_row(r["run_id"], r["dataset"], r["model"], r["view"],
                        r["objectives"] or "-", inputs, str(r["seed"]), r["status"],
                        str(r["best_epoch"] or "-"), fmt(r.get("valid_recall@20")),
                        fmt(r.get("test_recall@20")), fmt(r.get("test_ndcg@20")),
                        f"{r['wall_s']:.1f}" if r["wall_s"] else "-")
        return out

    if as_json and not as_csv:  # sources as an object, not JSON text
        print_json([{**r, "sources": json.loads(r["sources"])} for r in frame.to_dicts()])
        return
    emit(frame, as_json, as_csv, table)


def recommend_command(
    user: Annotated[str, typer.Argument(help="User id as in the source data.")],
    run: Annotated[str, typer.Option("--run", help="Run id (see `workbench runs`), or `latest`.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """A user's top-K items from a finished run (training items excluded), with titles."""
    with read_store() as store:
        ranked = recommend(store, run, user, k)

    def table() -> Table:
        out = Table("rank", "item", "title", "held out (valid/test)")
        for r in ranked.iter_rows(named=True):
            out.add_row(str(r["rank"]), r["item"], r["title"] or "",
                        "yes" if r["held_out"] else "")
        return out

    emit(ranked, as_json, as_csv, table)


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
    edges_job: EdgesJob = None,
    features_job: FeaturesJob = None,
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
            baseline, on_run=show, pins=pin(store, dataset, edges_job, features_job or ()))
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
    app.command("train")(with_choices(train_command, model=models, view=views))
    app.command("runs")(runs_command)
    app.command("recommend")(recommend_command)
