"""The Python API: everything the CLI does, as calls that return polars frames, tensors and
graphs. The CLI is a thin layer over the same library functions.

    import workbench as wb

    ws = wb.Workspace("workbench-home")            # all state lives in this folder
    ws.ingest()                                    # the bundled MovieLens-100K
    run = ws.train("lightgcn", epochs=20)          # selected on validation, tested once
    ws.runs()                                      # a polars DataFrame, one row per run
    ws.recommend(run.run_id, user="196", k=5)      # a user's top 5

Every method opens the store for the length of the call only. Errors are
:class:`~workbench.errors.WorkbenchError` subclasses with the message the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from workbench.errors import ConfigError, validation_message
from workbench.settings import WorkbenchSettings
from workbench.store import DatasetInfo, Store

if TYPE_CHECKING:  # the heavy parts load when first used
    import networkx as nx
    from torch import Tensor
    from torch_geometric.data import HeteroData

    from workbench.augment.engine import EngineSettings, LLMEngine
    from workbench.augment.jobs import JobReport
    from workbench.graph.train import RunResult
    from workbench.graph.views import GraphData


class Workspace:
    """One workbench home folder: its DuckDB store, prepared models and caches.

    Args:
        home: the folder (created if absent). Default: ``$WORKBENCH_HOME`` or
            ``./workbench-home``, like the CLI.
        llm: engine settings for LLM jobs (model, dtype, batch size...). Default: from
            ``WORKBENCH_LLM_*`` variables, like the CLI.
        engine: a running engine to reuse (vLLM holds one per process: workspaces of one
            notebook can share it). Default: started by the first LLM job.
    """

    def __init__(self, home: str | Path | None = None, llm: EngineSettings | None = None,
                 engine: LLMEngine | None = None) -> None:
        self.settings = WorkbenchSettings(home=Path(home)) if home else WorkbenchSettings()
        self._llm = llm
        self._engine = engine

    def __repr__(self) -> str:
        return f"Workspace({str(self.settings.home_dir)!r})"

    @property
    def home(self) -> Path:
        return self.settings.home_dir

    @contextmanager
    def store(self, write: bool = False) -> Iterator[Store]:
        """The store for the length of a block: read-only (shared) unless ``write``."""
        opened = (Store.open(self.settings.db_path, timeout_s=None) if write
                  else Store.open_read_only(self.settings.db_path, timeout_s=None))
        with opened as store:
            yield store

    # -- data ------------------------------------------------------------------------------
    def ingest(self, path: str | Path | None = None, **options: Any) -> DatasetInfo:
        """Load a dataset (default: the bundled MovieLens-100K); ``options`` are those of
        :class:`~workbench.graph.ingest.IngestOptions` (``name``, ``format``, ``split``,
        ``k_core``, ``columns``...), ``split`` also as ``"random"``/``"loo"``/``"given"``."""
        from workbench.graph.ingest import IngestOptions, ingest
        from workbench.graph.splits import SplitConfig

        if isinstance(options.get("split"), str):
            options["split"] = SplitConfig(method=options["split"])
        try:
            parsed = IngestOptions(path=path, **options)
        except ValueError as exc:
            raise ConfigError(f"invalid ingest options: {validation_message(exc)}") from None
        with self.store(write=True) as store:
            return ingest(store, parsed, self.settings.cache_dir)

    def datasets(self) -> pl.DataFrame:
        """The datasets in the store, one row each."""
        with self.store() as store:
            return pl.DataFrame([vars(d) for d in store.datasets()], schema=list(
                DatasetInfo.__dataclass_fields__))

    def stats(self, dataset: str | None = None) -> dict[str, Any]:
        """Counts, density and degree quantiles per split, and the enriched graph's shape."""
        from workbench.graph.graph_stats import enriched_stats
        from workbench.graph.stats import dataset_stats, stats_record

        with self.store() as store:
            stats = dataset_stats(store, dataset)
            return stats_record(stats, enriched_stats(store, stats.info))

    # -- enrichment ------------------------------------------------------------------------
    def engine(self) -> LLMEngine:
        """The vLLM engine of this workspace (started on first use, then reused)."""
        if self._engine is None:
            from workbench.augment.engine import LLMEngine, engine_settings, resolve_model

            settings = self._llm or engine_settings()
            try:
                path = resolve_model(settings.model, self.settings.models_dir)
            except FileNotFoundError as exc:
                raise ConfigError(str(exc)) from None
            self._engine = LLMEngine(settings, path)  # vLLM starts at its first batch
        return self._engine

    def augment(self, kind: str, dataset: str | None = None, *, limit: int | None = None,
                chunk_size: int = 256, max_attempts: int = 3, force: bool = False,
                backend: str | None = None, ray_address: str | None = None,
                replicas: int | None = None,
                on_chunk: Callable[[JobReport], None] | None = None,
                on_progress: Callable[[JobReport], None] | None = None,
                **options: Any) -> JobReport:
        """Run (or resume) an LLM job of a registered kind (``item-attributes``,
        ``user-profiles``, ``item-profiles``, ``edges``...); ``options`` are the kind's own
        (``workbench augment KIND --help``), e.g. ``run=RUN_ID`` for edges. ``backend="ray"``
        runs the engine on Ray replicas (``ray_address``, ``replicas``). ``on_chunk(report)``
        is called after each committed chunk, ``on_progress(report)`` also as each answer
        arrives (``report.n_answered``; the local backend)."""
        from workbench.augment.engine import SamplingSettings
        from workbench.augment.jobs import JobRunner
        from workbench.augment.registry import build_kind

        with self.store() as store:
            info = store.dataset(dataset)
            job = build_kind(kind, store, info, **options)
        where = self._backend(backend, ray_address, replicas)
        engine = self.engine()  # on Ray only the replicas start theirs; this one stays idle
        with self.store(write=True) as store:
            runner = JobRunner(store, engine, SamplingSettings(max_tokens=job.max_tokens),
                               engine.settings.model, chunk_size, max_attempts,
                               backend=where)
            return runner.run(job, info, limit, on_chunk=on_chunk, force=force,
                              on_progress=on_progress)

    def embed(self, source: str = "user-profiles", dataset: str | None = None,
              job: str | None = None, backend: str | None = None,
              ray_address: str | None = None, replicas: int | None = None) -> str:
        """Embed item text (``item-text``) or a job's generated text; returns the embed job."""
        from workbench.augment.embed import TextEncoder, embed_job, latest_job

        where = self._backend(backend, ray_address, replicas, engine=False)
        with self.store(write=True) as store:
            info = store.dataset(dataset)
            job_id, _ = embed_job(store, TextEncoder(),
                                  latest_job(store, info.dataset_id, source, job),
                                  backend=where)
            return job_id

    def _backend(self, backend: str | None, ray_address: str | None, replicas: int | None,
                 engine: bool = True) -> Any:
        from workbench.augment.backends import backend_settings, build_backend

        settings = backend_settings(backend, ray_address, replicas)
        if not engine or settings.backend == "local":
            return build_backend(settings, None, "")
        return build_backend(settings, self.engine().settings, self.engine().model_path)

    def jobs(self, dataset: str | None = None) -> pl.DataFrame:
        """Enrichment jobs with status, progress, rejected attempts and throughput."""
        from workbench.augment.outputs import list_jobs

        with self.store() as store:
            did = store.dataset(dataset).dataset_id if dataset else None
            return list_jobs(store, did)

    def build_graph(self, dataset: str | None = None, **options: Any) -> dict[str, Any]:
        """Build the enriched graph (attribute and semantic-ID nodes); ``options`` as
        ``workbench graph build``'s (``columns``, ``code_levels``, ``codebook_size``...)."""
        from workbench.graph.enriched import build_enriched_graph

        with self.store(write=True) as store:
            return build_enriched_graph(store, dataset, **options)

    # -- training --------------------------------------------------------------------------
    def pins(self, dataset: str | None = None, edges_job: str | None = None,
             features_jobs: Sequence[str] = ()) -> dict[str, str]:
        """Pins of enrichment jobs for :meth:`graph`, :meth:`train` and :meth:`ablation`."""
        from workbench.graph.views import pin

        with self.store() as store:
            return pin(store, dataset, edges_job, features_jobs)

    def train(self, model: str = "lightgcn", dataset: str | None = None, view: str = "base",
              *, pins: dict[str, str] | None = None,
              on_epoch: Callable[[int, float, dict | None], None] | None = None,
              **settings: Any) -> RunResult:
        """Train ``model`` on ``view``, select on validation, test once; ``settings`` are
        training settings (``epochs`` for ``max_epochs``, ``lr``, ``seed``, ``device``...;
        ``workbench settings`` lists them)."""
        from workbench.graph.train import make_config, train

        if "epochs" in settings:
            settings["max_epochs"] = settings.pop("epochs")
        config = make_config(model=model, **settings)
        with self.store(write=True) as store:
            return train(store, config, dataset, view, on_epoch=on_epoch, pins=pins)

    def ablation(self, dataset: str | None = None, variants: Sequence[str] | None = None,
                 seeds: int = 3, *, tune: bool = True, baseline: str = "base",
                 cold_max_degree: int = 5, pins: dict[str, str] | None = None,
                 on_run: Callable[[dict], None] | None = None,
                 **settings: Any) -> tuple[str, pl.DataFrame]:
        """Train each variant with ``seeds`` seeds; the experiment id and the table of
        validation-selected test metrics with paired 95% intervals against ``baseline``."""
        from workbench.graph.experiments import run_ablation
        from workbench.graph.train import make_config

        if "epochs" in settings:
            settings["max_epochs"] = settings.pop("epochs")
        config = make_config(**settings)
        with self.store(write=True) as store:
            return run_ablation(store, dataset, config, [2020 + i for i in range(seeds)],
                                list(variants) if variants else None, cold_max_degree, tune,
                                baseline, on_run=on_run, pins=pins)

    def runs(self, dataset: str | None = None) -> pl.DataFrame:
        """Training runs, newest first: status, metrics (one column each), the jobs read."""
        from workbench import runs

        with self.store() as store:
            did = store.dataset(dataset).dataset_id if dataset else None
            return runs.list_runs(store, did)

    def evaluate(self, run: str, split: str = "test") -> dict[str, float]:
        """A finished run's metrics on ``valid`` or ``test``, from its stored embeddings."""
        from workbench.graph.recommend import evaluate_run

        with self.store() as store:
            return evaluate_run(store, run, split)

    def recommend(self, run: str, user: str, k: int = 10) -> pl.DataFrame:
        """A user's top-``k`` items from a finished run (``latest``: the newest)."""
        from workbench.graph.recommend import recommend

        with self.store() as store:
            return recommend(store, run, user, k)

    def embeddings(self, run: str) -> tuple[Tensor, Tensor]:
        """A finished run's (user, item) embeddings, rows in the store's index order."""
        from workbench import runs

        with self.store() as store:
            return runs.load_embeddings(store, run)

    # -- the graph elsewhere ------------------------------------------------------------------
    def graph(self, dataset: str | None = None, view: str = "base",
              pins: dict[str, str] | None = None) -> GraphData:
        """A graph view's tensors (what the models train on)."""
        from workbench.graph.views import load_graph

        with self.store() as store:
            return load_graph(store, dataset, view, require_valid=False, pins=pins)

    def hetero_data(self, dataset: str | None = None, view: str = "base",
                    pins: dict[str, str] | None = None) -> HeteroData:
        """A graph view as torch-geometric ``HeteroData`` (see :mod:`workbench.graph.hetero`)."""
        from workbench.graph.hetero import to_hetero_data

        return to_hetero_data(self.graph(dataset, view, pins))

    def networkx(self, dataset: str | None = None, with_users: bool = False) -> nx.Graph:
        """The enriched graph as networkx: items, attribute/code nodes (and users with their
        training edges when asked), typed by the node attribute ``kind``."""
        from workbench.graph.graph_stats import networkx_graph

        with self.store() as store:
            return networkx_graph(store, store.dataset(dataset), with_users=with_users)
