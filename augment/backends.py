"""Where a job's engine runs: a backend per module, one registration each.

- ``local``: one engine in the workbench's own process (vLLM in-process on a CPU, or on this
  machine's GPUs), chunk after chunk.
- ``ray``: work items as a Ray dataset, generation in ``map_batches`` on a pool of actors
  that each hold one engine (:mod:`workbench.augment.ray_backend`).

Either way the prompts, schemas, validation and retries are the same
(:func:`~workbench.augment.generate.generate`) and only the runner in the workbench's process
writes the store, chunk by chunk, each in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from workbench.errors import ConfigError
from workbench.registry import Registry

if TYPE_CHECKING:
    from workbench.augment.jobs import JobKind, JobReport, JobRunner, WorkItem


class BackendSettings(BaseSettings):
    """Where LLM jobs run. Environment: ``WORKBENCH_BACKEND``, ``WORKBENCH_RAY_ADDRESS``,
    ``WORKBENCH_REPLICAS``...; the job commands' ``--backend``, ``--ray-address`` and
    ``--replicas`` override them."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="ignore")

    backend: str = Field("local", description=(
        "local (the engine in this process) or ray (Ray Data, one engine per replica)"))
    ray_address: str | None = Field(None, description=(
        "a running Ray cluster to join (host:port or ray://host:port); none: start Ray on "
        "this machine for the job and stop it afterwards"))
    replicas: int = Field(1, description=(
        "engine replicas (Ray actors) for data parallelism; each holds "
        "tensor_parallel_size GPUs on a GPU cluster, or an equal share of the CPUs"))
    ray_object_store_mb: int = Field(
        512, description="object store of a Ray started on this machine, MiB")


def backend_settings(backend: str | None = None, ray_address: str | None = None,
                     replicas: int | None = None) -> BackendSettings:
    """The environment's backend settings with the given options on top (CLI and API)."""
    given = {"backend": backend, "ray_address": ray_address, "replicas": replicas}
    return BackendSettings(**{k: v for k, v in given.items() if v is not None})


class Backend(Protocol):
    name: str

    def describe(self) -> dict[str, Any]:
        """What the job's manifest records of where it ran."""

    def prepare(self) -> None:
        """Reach the engines' home (join or start a cluster, check it can hold the replicas)
        before the job is opened: a bad address or size fails with nothing written."""

    def close(self) -> None:
        """Let go of what :meth:`prepare` took (a Ray started for the job)."""

    def run(self, runner: JobRunner, job_id: str, kind: JobKind, items: list[WorkItem],
            todo: list[WorkItem], report: JobReport,
            on_chunk: Callable[[JobReport], None] | None) -> None:
        """Generate ``todo`` (of all ``items``) and commit it through ``runner.commit``."""


@dataclass(frozen=True)
class BackendSpec:
    name: str
    summary: str
    build: Callable[[BackendSettings, Any, str], Backend]  # settings, engine settings, model


def _load_builtin() -> None:
    import workbench.augment.ray_backend  # noqa: F401


BACKENDS: Registry[BackendSpec] = Registry("backend", _load_builtin, ConfigError)


def register_backend(spec: BackendSpec) -> BackendSpec:
    return BACKENDS.register(spec.name, spec)


class LocalBackend:
    """The engine in this process: the whole job as one stream of chunks (or chunk after
    chunk for an engine that cannot stream); the store released while it generates."""

    name = "local"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def prepare(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, runner: JobRunner, job_id: str, kind: JobKind, items: list[WorkItem],
            todo: list[WorkItem], report: JobReport,
            on_chunk: Callable[[JobReport], None] | None) -> None:
        if hasattr(runner.engine, "stream"):  # vLLM: one continuous run of the whole job
            runner.run_stream(job_id, kind, todo, report, on_chunk)
            return
        # Engines without streaming: retries ride with the next chunk's call instead of a
        # small call of their own; after the last chunk they run on their own until settled.
        retry: list[WorkItem] = []
        for start in range(0, len(todo), runner.chunk_size):
            batch = todo[start:start + runner.chunk_size] + retry
            retry = runner.run_chunk(job_id, kind, batch, report)
            if on_chunk:
                on_chunk(report)
        while retry:
            retry = runner.run_chunk(job_id, kind, retry, report)
            if on_chunk:
                on_chunk(report)


register_backend(BackendSpec("local", "the engine in this process",
                             lambda settings, engine, model_path: LocalBackend()))


def build_backend(settings: BackendSettings, engine_settings: Any, model_path: str) -> Backend:
    if settings.replicas < 1:
        raise ConfigError(f"replicas must be at least 1, got {settings.replicas}")
    return BACKENDS.get(settings.backend).build(settings, engine_settings, model_path)
