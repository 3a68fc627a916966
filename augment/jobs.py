"""Batch jobs: build prompts in bulk, send them in large batches to one engine, write results
to the store in chunks. Resumable and idempotent.

A job's id is a hash of what decides its output (dataset, kind, model, prompt template,
schema, sampling), so running the same command again finds the same job and continues it:
entities that already have an output row are skipped. Each chunk (outputs, rejected attempts,
counters) is one transaction, so a job killed at any point (even ``kill -9``) loses at most
the chunk in flight and never writes anything twice.

An answer that is not valid JSON for the schema is recorded in ``rejected_outputs`` with the
raw text and the reason, and retried (:mod:`workbench.augment.generate`). It is never stored
as data. Where the engine runs is the backend's business (:mod:`workbench.augment.backends`):
in this process, or on Ray replicas; either way this runner alone writes the store.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl
from pydantic import BaseModel

from workbench import processes
from workbench.augment.engine import LLMEngine, SamplingSettings
from workbench.augment.backends import Backend, LocalBackend
from workbench.augment.generate import Generated, generate_round, generate_stream
from workbench.augment.prompts import PromptTemplate
from workbench.augment.schemas import smallest_answer
from workbench.errors import ConfigError
from workbench.store import DatasetInfo, Store, StoreError


@dataclass
class WorkItem:
    """One prompt for one entity (an item or a user)."""

    entity_idx: int
    messages: list[dict[str, str]]
    extra: dict[str, Any] = field(default_factory=dict)  # kept for building output rows


class JobKind(Protocol):
    """What a kind of job contributes: its prompts, its schema, and its output rows."""

    kind: str  # e.g. "item-attributes"
    entity: str  # "item" or "user"
    output_table: str  # where parsed answers go
    key_column: str  # the entity column of output_table
    template: PromptTemplate
    schema: type[BaseModel]
    max_tokens: int  # default answer budget for this kind

    def work_items(self, store: Store, dataset: DatasetInfo) -> list[WorkItem]: ...

    def output_rows(self, items: list[WorkItem], answers: list[BaseModel]) -> pl.DataFrame: ...


@dataclass
class JobReport:
    job_id: str
    status: str
    n_total: int
    n_done: int
    n_rejected: int
    n_new: int
    prompt_tokens: int
    output_tokens: int
    llm_s: float
    # answers received for the chunk in flight, before validation and commit (the local
    # backend counts them as they arrive; back to 0 when the chunk is written)
    n_answered: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.llm_s if self.llm_s else 0.0


def schema_hash(schema: type[BaseModel]) -> str:
    return hashlib.sha256(json.dumps(schema.model_json_schema(), sort_keys=True).encode()
                          ).hexdigest()


class JobRunner:
    """Runs job kinds against one engine and one store."""

    def __init__(self, store: Store, engine: LLMEngine, sampling: SamplingSettings,
                 model_name: str, chunk_size: int = 256, max_attempts: int = 3,
                 retry_temperature: float = 0.8, backend: Backend | None = None) -> None:
        for name, value in (("chunk_size", chunk_size), ("max_attempts", max_attempts)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        self.store, self.engine, self.sampling = store, engine, sampling
        self.backend = backend or LocalBackend()
        self.model_name = model_name
        self.chunk_size, self.max_attempts = chunk_size, max_attempts
        self.retry_temperature = retry_temperature
        self.on_progress: Callable[[JobReport], None] | None = None

    # -- identity and bookkeeping -------------------------------------------------------
    def job_id(self, kind: JobKind, dataset: DatasetInfo) -> str:
        key = json.dumps([dataset.dataset_id, dataset.name, kind.kind, self.model_name,
                          kind.template.sha256, schema_hash(kind.schema),
                          self.sampling.model_dump(), self.max_attempts,
                          getattr(kind, "identity", "")], sort_keys=True)
        return f"{kind.kind}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def manifest(self, kind: JobKind, dataset: DatasetInfo) -> dict:
        return {
            "kind": kind.kind, "dataset": dataset.name, "model": self.model_name,
            "model_path": self.engine.model_path, "engine": "vllm",
            "engine_version": self.engine.version,
            "engine_settings": self.engine.settings.model_dump(),
            "prompt": {"id": kind.template.id, "sha256": kind.template.sha256,
                       "system": kind.template.system, "user": kind.template.user},
            "schema": kind.schema.model_json_schema(), "sampling": self.sampling.model_dump(),
            "max_attempts": self.max_attempts, "retry_temperature": self.retry_temperature,
            "chunk_size": self.chunk_size, "identity": getattr(kind, "identity", ""),
            "backend": self.backend.describe(),
        }

    def _open_job(self, job_id: str, kind: JobKind, dataset: DatasetInfo, n_total: int,
                  force: bool = False) -> None:
        """Create the job or claim it for this process: one job, one runner. A job running in
        a live process is refused (``force`` takes over one whose process cannot be checked
        from here: another host's); a dead, reused-PID or silent owner is taken over."""
        me = processes.this_process()
        with self.store.transaction() as con:  # the lock makes the claim atomic
            row = con.execute("SELECT status, pid, host, pid_started, updated_at FROM jobs "
                              "WHERE job_id = ?", [job_id]).fetchone()
            if row is None:
                con.execute(
                    "INSERT INTO jobs (job_id, dataset_id, kind, status, model, prompt_version, "
                    "prompt_hash, sampling, manifest, n_total, pid, host, pid_started) "
                    "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [job_id, dataset.dataset_id, kind.kind, self.model_name, kind.template.id,
                     kind.template.sha256, self.sampling.model_dump_json(),
                     json.dumps(self.manifest(kind, dataset)), n_total, *me])
                return
            status, pid, host, started, updated = row
            running_elsewhere = status == "running" and (pid, host) != me[:2]
            if running_elsewhere and processes.alive(pid, host, started, updated):
                local = host == socket.gethostname()
                if local or not force:
                    raise StoreError(
                        f"job {job_id} is running in PID {pid} on {host}" + (
                            ": wait for it, or stop it and run again" if local else
                            "; --force to take it over once that process is gone"))
            con.execute(  # the manifest says where the job ran last
                "UPDATE jobs SET status = 'running', n_total = greatest(n_total, ?), pid = ?, "
                "host = ?, pid_started = ?, updated_at = current_timestamp, "
                "manifest = json_merge_patch(manifest, ?) WHERE job_id = ?",
                [n_total, *me, json.dumps({"backend": self.backend.describe()}), job_id])

    def pending(self, job_id: str, kind: JobKind, items: list[WorkItem]) -> list[WorkItem]:
        """Items without an output row and with attempts left."""
        done = {r[0] for r in self.store.con.execute(
            f"SELECT {kind.key_column} FROM {kind.output_table} WHERE job_id = ?",
            [job_id]).fetchall()}
        exhausted = {r[0] for r in self.store.con.execute(
            "SELECT entity_idx FROM rejected_outputs WHERE job_id = ? GROUP BY entity_idx "
            "HAVING count(*) >= ? OR bool_or(reason LIKE 'prompt too long%')",
            [job_id, self.max_attempts]).fetchall()}
        return [w for w in items if w.entity_idx not in done and w.entity_idx not in exhausted]

    # -- running -----------------------------------------------------------------------
    def check(self, kind: JobKind) -> None:
        """Settings under which no answer can be valid: refused before any engine starts and
        before the job is opened, so nothing is written."""
        max_tokens, max_len = self.sampling.max_tokens, self.engine.settings.max_model_len
        if max_len <= max_tokens:
            raise ConfigError(f"max_model_len {max_len} leaves no room for a prompt beside the "
                              f"{max_tokens} tokens of a {kind.kind} answer: set "
                              f"WORKBENCH_LLM_MAX_MODEL_LEN well above {max_tokens}")
        try:
            floor = smallest_answer(kind.schema)
        except ValueError as exc:
            raise ConfigError(f"no answer can satisfy the {kind.kind} schema "
                              f"({kind.schema.__name__}): {exc}") from None
        count = getattr(self.engine, "count_text_tokens", None)  # engines with a tokenizer
        needed = count(floor) if count else 0
        if needed > max_tokens:
            raise ConfigError(f"a {kind.kind} answer needs at least {needed} tokens "
                              f"({floor}), more than its max_tokens {max_tokens}")

    def run(self, kind: JobKind, dataset: DatasetInfo, limit: int | None = None,
            on_chunk: Callable[[JobReport], None] | None = None,
            force: bool = False,
            on_progress: Callable[[JobReport], None] | None = None) -> JobReport:
        """Run (or resume) the job of ``kind`` on ``dataset``: ``on_chunk`` is called after
        each committed chunk, ``on_progress`` also as each answer arrives (local backend;
        Ray replicas report by chunk)."""
        self.on_progress = on_progress
        self.check(kind)
        items = kind.work_items(self.store, dataset)
        if limit is not None:
            items = items[:limit]
        job_id = self.job_id(kind, dataset)
        self.backend.prepare()
        try:
            return self._run(job_id, kind, dataset, items, on_chunk, force)
        finally:
            self.backend.close()

    def _run(self, job_id: str, kind: JobKind, dataset: DatasetInfo, items: list[WorkItem],
             on_chunk: Callable[[JobReport], None] | None, force: bool) -> JobReport:
        self._open_job(job_id, kind, dataset, len(items), force)
        todo = self.pending(job_id, kind, items)
        report = JobReport(job_id, "running", len(items), len(items) - len(todo), 0, 0, 0, 0, 0.0)
        report.n_rejected = self._count_rejected(job_id)
        self.backend.run(self, job_id, kind, items, todo, report, on_chunk)
        with self.store.transaction() as con:
            con.execute("UPDATE jobs SET status = 'done', updated_at = current_timestamp "
                        "WHERE job_id = ? AND pid = ? AND host = ?",
                        [job_id, *processes.this_process()[:2]])
        report.status = "done"
        return report

    def _count_rejected(self, job_id: str) -> int:
        return self.store.con.execute(
            "SELECT count(*) FROM rejected_outputs WHERE job_id = ?", [job_id]).fetchone()[0]

    def prior_rejections(self, job_id: str) -> dict[int, int]:
        """Each entity's rejected attempts so far (retries continue from there)."""
        return dict(self.store.con.execute(
            "SELECT entity_idx, count(*) FROM rejected_outputs WHERE job_id = ? "
            "GROUP BY entity_idx", [job_id]).fetchall())

    def run_chunk(self, job_id: str, kind: JobKind, chunk: list[WorkItem],
                  report: JobReport) -> list[WorkItem]:
        """One engine call for ``chunk`` with this process's engine (each entity at its next
        attempt: first attempts and retries mixed), committed; returns the entities rejected
        in it that have attempts left, for the next call. The run's ``on_progress`` hears of
        each first answer as it arrives (``report.n_answered``)."""
        prior = self.prior_rejections(job_id)
        got, retry = generate_round(
            self.engine, {w.entity_idx: w.messages for w in chunk}, kind.schema, kind.entity,
            self.sampling, prior, self.max_attempts, self.retry_temperature,
            released=self.store.released,  # the dashboard may look in meanwhile
            on_answer=self._answer_counter(report))
        self.commit(job_id, kind, chunk, got, report)
        again = {i for i in retry if prior.get(i, 0) + 1 < self.max_attempts}
        return [w for w in chunk if w.entity_idx in again]

    def run_stream(self, job_id: str, kind: JobKind, todo: list[WorkItem], report: JobReport,
                   on_chunk: Callable[[JobReport], None] | None = None) -> None:
        """All of ``todo`` through one streaming engine run (:func:`generate_stream`): chunks
        of ``chunk_size`` join as the engine's queue runs low, each committed once all its
        entities are settled; the store is released meanwhile except for those commits."""
        works = {w.entity_idx: w for w in todo}

        def settled(keys: list[int], got: Generated) -> None:
            # later chunks' first answers may have come in already: they stay counted
            heard = report.n_answered - sum(
                1 for i in keys if not prior.get(i) and i in got.output_tokens)
            self.commit(job_id, kind, [works[i] for i in keys], got, report)
            report.n_answered = max(0, heard)
            if on_chunk:
                on_chunk(report)

        prior = self.prior_rejections(job_id)
        chunks = ({w.entity_idx: w.messages for w in todo[start:start + self.chunk_size]}
                  for start in range(0, len(todo), self.chunk_size))
        with self.store.released():
            generate_stream(self.engine, chunks, kind.schema, kind.entity, self.sampling,
                            prior, self.max_attempts, self.retry_temperature, settled,
                            on_answer=self._answer_counter(report),
                            low_water=self.chunk_size)

    def _answer_counter(self, report: JobReport) -> Callable[[int], None]:
        """``on_answer`` for the generators: counts first answers into ``report`` and tells
        the run's ``on_progress``."""
        def answered(n: int) -> None:
            report.n_answered += n
            if self.on_progress:
                self.on_progress(report)
        return answered

    def commit(self, job_id: str, kind: JobKind, chunk: list[WorkItem], got: Generated,
               report: JobReport) -> None:
        """Write what a chunk generated (from any backend) in one transaction."""
        works = {w.entity_idx: w for w in chunk}
        accepted = [(works[idx], answer) for idx, answer in got.accepted]
        rejected = [{"job_id": job_id, **r} for r in got.rejected]
        tokens = {"prompt": sum(got.prompt_tokens.values()),
                  "output": sum(got.output_tokens.values()), "s": got.llm_s}
        self._write_chunk(job_id, kind, accepted, rejected, tokens, report)

    def _write_chunk(self, job_id: str, kind: JobKind, accepted: list, rejected: list[dict],
                     tokens: dict, report: JobReport) -> None:
        rows = kind.output_rows([w for w, _ in accepted], [a for _, a in accepted])
        rejected_rows = pl.DataFrame(rejected, schema={
            "job_id": pl.String, "entity": pl.String, "entity_idx": pl.Int32,
            "attempt": pl.Int32, "raw_text": pl.String, "reason": pl.String})
        with self.store.transaction() as con:
            owner = con.execute("SELECT pid, host FROM jobs WHERE job_id = ?",
                                [job_id]).fetchone()
            # what another runner (one that took the job over) wrote meanwhile is kept, and
            # nothing is written twice: rows already there are skipped, never a key error
            done = {r[0] for r in con.execute(
                f"SELECT {kind.key_column} FROM {kind.output_table} WHERE job_id = ? AND "
                f"{kind.key_column} IN (SELECT unnest(?::INTEGER[]))",
                [job_id, rows[kind.key_column].to_list()]).fetchall()} if rows.height else set()
            rows = rows.filter(~pl.col(kind.key_column).is_in(list(done))) if done else rows
            if rejected_rows.height:
                seen = {tuple(r) for r in con.execute(  # this chunk's entities only
                    "SELECT entity_idx, attempt FROM rejected_outputs WHERE job_id = ? AND "
                    "entity_idx IN (SELECT unnest(?::INTEGER[]))",
                    [job_id, rejected_rows["entity_idx"].unique().to_list()]).fetchall()}
                rejected_rows = rejected_rows.filter(pl.Series([
                    (i, a) not in seen for i, a in zip(rejected_rows["entity_idx"],
                                                       rejected_rows["attempt"])]))
            if rows.height:
                self.store.insert_frame(kind.output_table,
                                        rows.with_columns(pl.lit(job_id).alias("job_id")))
            if rejected_rows.height:
                self.store.insert_frame("rejected_outputs", rejected_rows)
            rejected = rejected_rows.to_dicts()
            con.execute(
                "UPDATE jobs SET n_done = n_done + ?, n_rejected = n_rejected + ?, "
                "n_prompt_tokens = n_prompt_tokens + ?, n_output_tokens = n_output_tokens + ?, "
                "llm_s = llm_s + ?, updated_at = current_timestamp WHERE job_id = ?",
                [rows.height, len(rejected), tokens["prompt"], tokens["output"], tokens["s"],
                 job_id])
        report.prompt_tokens += tokens["prompt"]
        report.output_tokens += tokens["output"]
        report.llm_s += tokens["s"]
        report.n_done += rows.height
        report.n_new += rows.height
        report.n_answered = 0
        report.n_rejected += len(rejected)
        me = processes.this_process()[:2]
        if owner is not None and tuple(owner) != me:
            raise StoreError(f"job {job_id} was taken over by PID {owner[0]} on {owner[1]}: "
                             "this runner stops (its last chunk is written)")


def job_row(store: Store, job_id: str) -> dict:
    row = store.con.execute("SELECT * FROM jobs WHERE job_id = ?", [job_id]).fetchone()
    if row is None:
        raise StoreError(f"unknown job {job_id!r}: `workbench jobs` lists them")
    return dict(zip([d[0] for d in store.con.description], row))
