"""Fault suite for the enrichment jobs: kill -9 mid-job, rerun, and check that nothing was
lost, nothing written twice, and the job's record is consistent.

The job runner is the same code for every LLM job kind; here each kind runs it in a child
process with a scripted engine (the real-vLLM kill test is test_vllm_path.py), and the embed
job with the real packaged encoder."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.data import TOY_DIR
from workbench.graph.ingest import IngestOptions, ingest
from workbench.store import Store, live_status
from workbench.graph.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]

ANSWERS = {  # a valid answer per job kind
    "user-profiles": '{"age_range": "25-34", "gender": "unknown", "liked_genres": ["Drama"], '
                     '"disliked_genres": [], "liked_directors": [], "country": "USA", '
                     '"language": "English", "summary": "Quiet dramas.", "reasoning": "r"}',
    "item-profiles": '{"summary": "For fans of dramas.", "reasoning": "r"}',
    "edges": '{"liked": 1, "disliked": 3, "reason": "fits"}',
}

JOB_SCRIPT = textwrap.dedent("""
    import sys, time
    from workbench.augment.edges import EdgesJob
    from workbench.augment.engine import SamplingSettings
    from workbench.augment.jobs import JobRunner
    from workbench.store import Store, live_status
    from workbench.profiles.items import ItemProfilesJob
    from workbench.profiles.users import UserProfilesJob
    from tests.augment.fakes import FakeEngine

    db, kind_name, answer, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    with Store.open(db) as store:
        if kind_name == "edges":
            kind = EdgesJob(store.con.execute("SELECT run_id FROM runs").fetchone()[0], k=5)
        else:
            kind = {"user-profiles": UserProfilesJob, "item-profiles": ItemProfilesJob}[
                kind_name]()
        runner = JobRunner(store, FakeEngine(lambda c, a: answer), SamplingSettings(), "fake",
                           chunk_size=4, max_attempts=1)
        def on_chunk(report):
            print("chunk", flush=True)
            time.sleep(pause)
        runner.run(kind, store.dataset(), on_chunk=on_chunk)
    print("finished", flush=True)
""")

OUTPUT = {  # kind: (table, entity column, expected entities)
    "user-profiles": ("profiles", "entity_idx", 30),
    "item-profiles": ("profiles", "entity_idx", 24),
    "edges": ("synthetic_edges", "user_idx", 30),
}


def child(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def kill_after_first_chunk(proc: subprocess.Popen) -> None:
    try:
        line = proc.stdout.readline()
        assert line.startswith("chunk"), (line, proc.stderr.read()[-2000:])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=300)
    assert "finished" in out, err[-2000:]


@pytest.fixture
def toy_db(tmp_path) -> Path:
    db = tmp_path / "faults.duckdb"
    with Store.open(db) as store:
        ingest(store, IngestOptions(path=TOY_DIR), tmp_path)
        train(store, TrainConfig(max_epochs=2, min_epochs=1, eval_every=1, embedding_dim=8))
    return db


@pytest.mark.parametrize("kind", list(OUTPUT))
def test_kill_9_mid_job_then_rerun(toy_db, kind):
    kill_after_first_chunk(child(JOB_SCRIPT, str(toy_db), kind, ANSWERS[kind], "30"))
    table, column, expected = OUTPUT[kind]
    with Store.open(toy_db) as store:
        status, n_done = store.con.execute(
            "SELECT status, n_done FROM jobs WHERE kind = ?", [kind]).fetchone()
        assert status == "running"  # killed: no clean finish was recorded ...
        listed = live_status(store.frame("SELECT status, pid, host FROM jobs WHERE kind = ?",
                                         [kind]))
        assert listed["status"].to_list() == ["interrupted"]  # ... and it reads so
        assert store.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == n_done == 4
    finish(child(JOB_SCRIPT, str(toy_db), kind, ANSWERS[kind], "0"))
    with Store.open(toy_db) as store:
        rows, distinct = store.con.execute(
            f"SELECT count(*), count(DISTINCT {column}) FROM {table}").fetchone()
        assert rows == distinct == expected  # nothing lost, nothing twice
        assert store.con.execute("SELECT count(*), any_value(status), any_value(n_done) "
                                 "FROM jobs WHERE kind = ?", [kind]).fetchone() == \
            (1, "done", expected)  # the rerun resumed the same job


EMBED_SCRIPT = textwrap.dedent("""
    import sys, time
    from workbench.augment.embed import TextEncoder, embed_job, latest_job
    from workbench.store import Store, live_status

    db, pause = sys.argv[1], float(sys.argv[2])
    with Store.open(db) as store:
        source = latest_job(store, store.dataset().dataset_id, "item-profiles")
        def on_chunk(written):
            print("chunk", flush=True)
            time.sleep(pause)
        embed_job(store, TextEncoder(), source, chunk_size=5, on_chunk=on_chunk)
    print("finished", flush=True)
""")


@pytest.mark.slow
def test_kill_9_mid_embed_then_rerun(toy_db):
    finish(child(JOB_SCRIPT, str(toy_db), "item-profiles", ANSWERS["item-profiles"], "0"))
    kill_after_first_chunk(child(EMBED_SCRIPT, str(toy_db), "30"))
    with Store.open(toy_db) as store:
        assert store.con.execute("SELECT status, n_done FROM jobs WHERE kind = 'embed'"
                                 ).fetchone() == ("running", 5)
        assert store.con.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 5
    finish(child(EMBED_SCRIPT, str(toy_db), "0"))
    with Store.open(toy_db) as store:
        assert store.con.execute("SELECT count(*), count(DISTINCT entity_idx) FROM embeddings"
                                 ).fetchone() == (24, 24)
        assert store.con.execute("SELECT status, n_done, n_total FROM jobs WHERE kind = 'embed'"
                                 ).fetchone() == ("done", 24, 24)


def test_out_of_disk_mid_job_keeps_what_was_committed(toy_db):
    """Files cannot grow past 12 kB in the child: after a few chunks the store's write-ahead
    log cannot grow, the failing chunk is rolled back with a clear error, and a rerun with
    space finishes the job."""
    from tests.conftest import limit_file_size

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full = subprocess.run([sys.executable, "-c", JOB_SCRIPT, str(toy_db), "user-profiles",
                           ANSWERS["user-profiles"], "0"], capture_output=True, text=True,
                          env=env, cwd=ROOT, preexec_fn=limit_file_size(12_000))
    assert full.returncode != 0 and "finished" not in full.stdout
    assert "StoreError: could not write the store" in full.stderr
    assert "Is the disk full?" in full.stderr
    with Store.open(toy_db) as store:
        status, n_done = store.con.execute(
            "SELECT status, n_done FROM jobs WHERE kind = 'user-profiles'").fetchone()
        kept = store.con.execute("SELECT count(*) FROM profiles").fetchone()[0]
        assert status == "running" and 0 < kept == n_done < 30 and kept % 4 == 0
    finish(child(JOB_SCRIPT, str(toy_db), "user-profiles", ANSWERS["user-profiles"], "0"))
    with Store.open(toy_db) as store:
        assert store.con.execute("SELECT count(*), count(DISTINCT entity_idx) FROM profiles"
                                 ).fetchone() == (30, 30)
