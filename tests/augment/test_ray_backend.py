"""The Ray backend on a local Ray, with the tiny random model: the same entities, prompts and
(at temperature 0, same batches) answers as the local backend; a killed actor and a killed
job lose nothing and write nothing twice; bad settings are one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra (`pip install -e .[ray]`; make test has it)")

from workbench.augment.attributes import ItemAttributesJob  # noqa: E402
from workbench.augment.backends import BackendSettings, build_backend  # noqa: E402
from workbench.augment.engine import EngineSettings, SamplingSettings  # noqa: E402
from workbench.augment.jobs import JobRunner  # noqa: E402
from workbench.data import TOY_DIR  # noqa: E402
from workbench.errors import ConfigError  # noqa: E402
from workbench.graph.ingest import IngestOptions, ingest  # noqa: E402
from workbench.store import Store  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LIMIT, CHUNK, MAX_ATTEMPTS = 12, 4, 2
# float32, not the default bfloat16: in bfloat16 last-bit differences between two processes
# (thread counts, reduction order) may flip this random model's near-tied tokens
DTYPE = "float32"


def outputs(store: Store) -> dict[int, str]:
    """Per entity that ended (answered, or rejected ``MAX_ATTEMPTS`` times): its first attempt,
    the greedy one (the stored answer, or the text rejected at attempt 1). Retries are left
    out: they sample at the retry temperature, on CPU from the engine's one random stream
    (vLLM's per-request seeds crash there), which no two processes share."""
    answers = dict(store.con.execute("SELECT item_idx, attributes FROM item_attributes"
                                     ).fetchall())
    first = dict(store.con.execute("SELECT entity_idx, raw_text FROM rejected_outputs "
                                   "WHERE attempt = 1").fetchall())
    exhausted = {idx for (idx,) in store.con.execute(
        "SELECT entity_idx FROM rejected_outputs GROUP BY entity_idx HAVING max(attempt) = ?",
        [MAX_ATTEMPTS]).fetchall()}
    return {idx: first.get(idx, answers.get(idx)) for idx in answers.keys() | exhausted}


def run(store: Store, engine, backend=None, **kwargs):
    runner = JobRunner(store, engine, SamplingSettings(max_tokens=96), "tiny",
                       chunk_size=CHUNK, max_attempts=MAX_ATTEMPTS, backend=backend)
    return runner.run(ItemAttributesJob(), store.dataset(), limit=LIMIT, **kwargs)


def ray_backend(tiny_model, replicas: int = 1):
    settings = EngineSettings(model=str(tiny_model), max_model_len=2048, max_num_seqs=16,
                              dtype=DTYPE)
    return build_backend(BackendSettings(backend="ray", replicas=replicas), settings,
                         str(tiny_model))


@pytest.fixture
def toy(tmp_path):
    def make(name: str) -> Store:
        store = Store.open(tmp_path / f"{name}.duckdb")
        ingest(store, IngestOptions(path=TOY_DIR), tmp_path / "cache")
        return store
    return make


def test_ray_covers_the_local_entities_with_the_same_prompts_and_answers(toy, tiny_model,
                                                                          tmp_path,
                                                                          workbench_home):
    """Both sides on a fresh engine (the local one in its own process, like the replica), at
    temperature 0 with the same batches (chunks of 4, in order), in float32: every entity's
    first answer matches token for token. (In bfloat16, vLLM on CPU is not bitwise reproducible
    from one process to the next, and this random model's near-tied tokens flip.)"""
    toy("local").close()
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    local = subprocess.run([sys.executable, "-c", textwrap.dedent(RAY_JOB),
                            str(tmp_path / "local.duckdb"), str(tiny_model), "local"],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert local.returncode == 0, local.stderr
    remote = toy("ray")
    try:
        from workbench.augment.engine import LLMEngine

        unstarted = LLMEngine(EngineSettings(model=str(tiny_model), max_model_len=2048,
                                             max_num_seqs=16, dtype=DTYPE), str(tiny_model))
        b = run(remote, unstarted, backend=ray_backend(tiny_model))  # only replicas start one
        with Store.open_read_only(tmp_path / "local.duckdb") as store:
            mine = outputs(store)
            a = store.con.execute("SELECT job_id, n_output_tokens, n_rejected FROM jobs"
                                  ).fetchone()
        assert a[0] == b.job_id  # the same job: dataset, kind, model, prompt, sampling
        manifest = remote.con.execute("SELECT manifest FROM jobs").fetchone()[0]
        assert '"name": "ray"' in manifest and '"replicas": 1' in manifest
        theirs = outputs(remote)
        assert set(mine) == set(theirs) == set(range(LIMIT))  # every entity, done or exhausted
        differ = [i for i in mine if mine[i] != theirs[i]]
        print(f"{len(differ)} of {LIMIT} entities answered differently: {differ}")
        assert not differ, [(mine[i], theirs[i]) for i in differ[:2]]
    finally:
        remote.close()


def worker_pids() -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"MapWorker" in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def test_a_killed_replica_is_restarted_and_nothing_is_lost_or_doubled(toy, tiny_engine,
                                                                      tiny_model):
    store = toy("kill")
    killed = []

    def kill_a_worker(report):
        if not killed and (pids := worker_pids()):
            os.kill(pids[0], signal.SIGKILL)  # kill -9 of the actor's process mid-job
            killed.append(pids[0])
    try:
        report = run(store, tiny_engine, backend=ray_backend(tiny_model), on_chunk=kill_a_worker)
        assert killed and report.status == "done"
        assert set(outputs(store)) == set(range(LIMIT))  # every entity ended
        rows = store.con.execute("SELECT count(*), count(DISTINCT item_idx) FROM "
                                 "item_attributes").fetchone()
        assert rows[0] == rows[1]
        attempts = store.con.execute("SELECT count(*), count(DISTINCT (entity_idx, attempt)) "
                                     "FROM rejected_outputs").fetchone()
        assert attempts[0] == attempts[1]
        most = store.con.execute("SELECT max(attempt) FROM rejected_outputs").fetchone()[0]
        assert (most or 0) <= MAX_ATTEMPTS
    finally:
        store.close()


RAY_JOB = """
    import sys
    from pathlib import Path
    from workbench.augment.attributes import ItemAttributesJob
    from workbench.augment.backends import BackendSettings, build_backend
    from workbench.augment.engine import EngineSettings, LLMEngine, SamplingSettings
    from workbench.augment.jobs import JobRunner
    from workbench.store import Store

    db, model = sys.argv[1], sys.argv[2]
    where = sys.argv[3] if len(sys.argv) > 3 else "ray"
    settings = EngineSettings(model=model, max_model_len=2048, max_num_seqs=16, dtype="float32")
    backend = build_backend(BackendSettings(backend=where), settings, model)
    with Store.open(db) as store:
        runner = JobRunner(store, LLMEngine(settings, model), SamplingSettings(max_tokens=96),
                           "tiny", chunk_size=4, max_attempts=2, backend=backend)
        report = runner.run(ItemAttributesJob(), store.dataset(), limit=12,
                            on_chunk=lambda r: print("chunk", r.n_done, flush=True))
    print("finished", report.n_new, flush=True)
"""


def test_a_killed_job_resumes_on_rerun(toy, tiny_model, tmp_path, workbench_home):
    toy("resume").close()
    db = tmp_path / "resume.duckdb"
    env = {**os.environ, "WORKBENCH_HOME": str(workbench_home)}
    script = textwrap.dedent(RAY_JOB)
    proc = subprocess.Popen([sys.executable, "-c", script, str(db), str(tiny_model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("chunk"), proc.stderr.read()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole job: driver, Ray and its replicas
        proc.wait()
    subprocess.run([str(Path(sys.executable).parent / "ray"), "stop", "--force"],
                   capture_output=True)
    with Store.open(db) as store:
        before = store.con.execute("SELECT count(DISTINCT entity_idx) FROM rejected_outputs"
                                   ).fetchone()[0] + store.con.execute(
            "SELECT count(*) FROM item_attributes").fetchone()[0]
        assert 0 < before < 2 * LIMIT
    again = subprocess.run([sys.executable, "-c", script, str(db), str(tiny_model)],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert again.returncode == 0, again.stderr
    with Store.open_read_only(db) as store:
        assert set(outputs(store)) == set(range(LIMIT))
        assert store.con.execute("SELECT count(*) = count(DISTINCT (entity_idx, attempt)) "
                                 "FROM rejected_outputs").fetchone()[0]
        status = store.con.execute("SELECT status FROM jobs").fetchone()[0]
    assert status == "done"


def test_embeddings_on_ray_equal_the_local_ones(toy):
    import numpy as np

    from workbench.augment.embed import TextEncoder, embed_job, latest_job
    from workbench.store import to_matrix

    vectors = []
    for name, backend in (("local", None),
                          ("ray", build_backend(BackendSettings(backend="ray"), None, ""))):
        store = toy(f"embed-{name}")
        try:
            job_id, written = embed_job(store, TextEncoder(),
                                        latest_job(store, 1, "item-text"), chunk_size=8,
                                        backend=backend)
            assert written == 24
            vectors.append(to_matrix(store.arrow(
                "SELECT vector FROM embeddings ORDER BY entity_idx").column("vector")))
        finally:
            store.close()
    assert np.allclose(vectors[0], vectors[1], atol=1e-5)


def test_bad_ray_settings_are_one_line_before_any_work(toy, tiny_engine, tiny_model,
                                                       monkeypatch):
    store = toy("bad")
    settings = EngineSettings(model=str(tiny_model))
    try:
        start = time.monotonic()
        backend = build_backend(BackendSettings(backend="ray", ray_address="127.0.0.1:9"),
                                settings, str(tiny_model))
        with pytest.raises(ConfigError, match="no Ray cluster answers at 127.0.0.1:9"):
            run(store, tiny_engine, backend=backend)
        assert time.monotonic() - start < 30
        too_many = build_backend(BackendSettings(backend="ray", replicas=64), settings,
                                 str(tiny_model))
        with pytest.raises(ConfigError, match="64 replicas do not fit the cluster's"):
            run(store, tiny_engine, backend=too_many)
        with pytest.raises(ConfigError, match="replicas must be at least 1"):
            build_backend(BackendSettings(backend="ray", replicas=0), settings, "")
        with pytest.raises(ConfigError, match="unknown backend 'nope'"):
            build_backend(BackendSettings(backend="nope"), settings, "")
        monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
        with pytest.raises(ConfigError, match=r"pip install 'enrichment-workbench\[ray\]'"):
            build_backend(BackendSettings(backend="ray"), settings, "")
        assert store.con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0  # nothing
    finally:
        store.close()


def test_a_ray_started_for_a_job_runs_without_its_idle_processes(tiny_model):
    """The autoscaler's monitor, the log monitor and the API server have nothing to do for a
    Ray started for one job here: they are not started (the jobs in the tests above ran so),
    and what was replaced while Ray started is Ray's own again once it is up."""
    import ray._private.worker
    from ray._private import node, ray_constants, services

    originals = [node.Node.start_monitor, node.Node.start_log_monitor,
                 node.Node.start_api_server, services.get_node]
    backend = ray_backend(tiny_model)
    backend.prepare()
    try:
        running = {kind for kind, _ in ray._private.worker._global_node.live_processes()}
        assert ray_constants.PROCESS_TYPE_RAYLET in running  # Ray itself is up
        assert ray_constants.PROCESS_TYPE_GCS_SERVER in running
        assert ray_constants.PROCESS_TYPE_MONITOR not in running
        assert ray_constants.PROCESS_TYPE_LOG_MONITOR not in running
        assert ray_constants.PROCESS_TYPE_DASHBOARD not in running
        assert [node.Node.start_monitor, node.Node.start_log_monitor,
                node.Node.start_api_server, services.get_node] == originals
        assert ray.get(ray.remote(lambda: 41 + 1).remote()) == 42  # it runs work
    finally:
        backend.close()
    assert not ray.is_initialized()


def test_a_jobs_dataset_is_its_batches_as_given(tiny_model):
    """One block per batch, in order, whole (the replica's calls are the local backend's
    chunks), its metadata known without running anything on Ray."""
    import pyarrow as pa

    from workbench.augment.ray_backend import _dataset

    rows = [{"entity_idx": i, "messages": f"m{i}", "prior": i % 2} for i in range(10)]
    blocks = [pa.Table.from_pylist(rows[start:start + 4]) for start in range(0, 10, 4)]
    backend = ray_backend(tiny_model)
    backend.prepare()
    try:
        dataset = _dataset(blocks)
        assert dataset.count() == 10 and dataset.num_blocks() == 3  # known before running
        got = [batch for batch in dataset.iter_batches(batch_size=None,
                                                       batch_format="pyarrow")]
        assert [b.to_pylist() for b in got] == [b.to_pylist() for b in blocks]
    finally:
        backend.close()


class _InFlight:
    """A pool's callable that reports how many of its calls were running as each began."""

    def __init__(self) -> None:
        import threading

        self.lock, self.running = threading.Lock(), 0

    def __call__(self, batch: dict) -> dict:
        with self.lock:
            self.running += 1
            seen = self.running
        time.sleep(0.5)  # long enough for the pool to hand this actor all it may hold
        with self.lock:
            self.running -= 1
        n = len(batch["x"])
        return {"x": batch["x"], "actor": [os.getpid()] * n, "in_flight": [seen] * n}


@pytest.mark.parametrize("replicas, most", [(1, 3), (2, 2)])
def test_one_replica_holds_three_batches_several_two_each(tiny_model, replicas, most):
    """One replica is given three batches at once (while its oldest waits for its slowest
    answer, one runs and one waits its turn); several two each, so that the first one ready
    does not take the batches the others would run."""
    import pyarrow as pa

    from workbench.augment.ray_backend import _dataset, _pool

    backend = ray_backend(tiny_model)
    backend.prepare()
    try:
        out = _dataset([pa.table({"x": [i]}) for i in range(8)]).map_batches(
            _InFlight, batch_size=None, compute=_pool(replicas), num_cpus=1)
        rows = out.take_all()
        assert sorted(r["x"] for r in rows) == list(range(8))
        peaks: dict[int, int] = {}
        for r in rows:
            peaks[r["actor"]] = max(peaks.get(r["actor"], 0), r["in_flight"])
        assert len(peaks) == replicas and max(peaks.values()) == most
    finally:
        backend.close()
