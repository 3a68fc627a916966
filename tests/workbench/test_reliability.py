"""No process locks the others out, one job has one runner, and no traceback reaches a user:
short writes, waiting for the lock (saying for whom), owners of running jobs, the one error
path of the CLI, and a soak of a job, a training run and dashboard reads on one store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench import locking, processes
from workbench.augment.engine import SamplingSettings
from workbench.augment.jobs import JobRunner
from workbench.augment.outputs import list_jobs
from workbench.cli import app
from workbench.data import TOY_DIR
from workbench.errors import StoreError
from workbench.graph.ingest import IngestOptions, ingest
from workbench.profiles.items import ItemProfilesJob
from workbench.store import Store
from tests.augment.fakes import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
PROFILE = '{"summary": "For fans of dramas.", "reasoning": "r"}'
runner = CliRunner()


def child(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "store.duckdb"
    with Store.open(path) as store:
        ingest(store, IngestOptions(path=TOY_DIR), tmp_path)
    return path


# -- the lock -------------------------------------------------------------------------------
TRAIN = """
    import sys
    from workbench.store import Store
    from workbench.graph.train import TrainConfig, train
    def on_epoch(epoch, loss, valid):
        print("epoch", epoch, flush=True)
    with Store.open(sys.argv[1]) as store:
        result = train(store, TrainConfig(max_epochs=int(sys.argv[2]), min_epochs=10**6,
                                          batch_size=32, eval_every=5, epoch_write_s=0.2),
                       on_epoch=on_epoch)
    print("done", result.run_id, flush=True)
"""


@pytest.mark.slow
def test_training_holds_no_lock_while_it_computes(db):
    proc = child(TRAIN, str(db), "400")
    assert proc.stdout.readline().startswith("epoch")
    reads = writes = 0
    try:
        while proc.poll() is None and reads < 40:
            with Store.open_read_only(db, timeout_s=1.0) as store:  # never waits long
                store.con.execute("SELECT count(*) FROM run_epochs").fetchone()
            reads += 1
            with Store.open(db, timeout_s=2.0) as store, store.transaction() as con:
                con.execute("UPDATE datasets SET name = name")
            writes += 1
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert reads >= 5 and writes >= 5
    with Store.open_read_only(db) as store:
        status, n_epochs = store.con.execute(
            "SELECT status, (SELECT count(*) FROM run_epochs) FROM runs").fetchone()
    assert status == "done" and n_epochs == 400


def test_waiting_for_the_lock_says_who_holds_it(db, monkeypatch):
    said = []
    monkeypatch.setattr(locking, "notice", said.append)
    holder = child("""
        import sys, time, duckdb
        con = duckdb.connect(sys.argv[1])
        print("holding", flush=True)
        time.sleep(2.5)
    """, str(db))
    assert holder.stdout.readline().strip() == "holding"
    start = time.monotonic()
    with Store.open(db) as store:  # waits as long as it takes (the default)
        assert store.dataset().name == "toy"
    assert time.monotonic() - start > 1.0
    holder.wait()
    assert len(said) == 1 and f"held by PID {holder.pid}" in said[0]
    assert "waiting for the store" in said[0]
    with pytest.raises(StoreError, match="locked by another process"):
        holder = child("""
            import sys, time, duckdb
            con = duckdb.connect(sys.argv[1])
            print("holding", flush=True)
            time.sleep(10)
        """, str(db))
        try:
            assert holder.stdout.readline().strip() == "holding"
            Store.open(db, timeout_s=0.3)
        finally:
            holder.kill()
            holder.wait()


# -- one job, one runner -----------------------------------------------------------------------
def job_runner(store: Store, pause: float = 0.0) -> JobRunner:
    def answer(conversation, attempt):
        time.sleep(pause)
        return PROFILE
    return JobRunner(store, FakeEngine(answer), SamplingSettings(), "fake", chunk_size=4,
                     max_attempts=1)


def claim(store: Store, job_id: str, pid: int, host: str, started: int | None,
          updated_s_ago: float = 0.0) -> None:
    store.con.execute(
        "UPDATE jobs SET status = 'running', pid = ?, host = ?, pid_started = ?, "
        f"updated_at = now()::TIMESTAMP - INTERVAL {int(updated_s_ago)} SECOND "
        "WHERE job_id = ?", [pid, host, started, job_id])


def test_a_job_running_in_a_live_process_is_refused(db):
    sleeper = child("import time; print('up', flush=True); time.sleep(30)")
    assert sleeper.stdout.readline().strip() == "up"
    try:
        with Store.open(db) as store:
            report = job_runner(store).run(ItemProfilesJob(), store.dataset(), limit=4)
            claim(store, report.job_id, sleeper.pid, processes.this_process()[1],
                  processes.started(sleeper.pid))
            for force in (False, True):  # a local live owner is never taken over
                with pytest.raises(StoreError, match=f"job {report.job_id} is running in "
                                                     f"PID {sleeper.pid} on "):
                    job_runner(store).run(ItemProfilesJob(), store.dataset(), force=force)
            assert list_jobs(store)["status"].to_list() == ["running"]
            # the same PID with another start time is another process: the owner is gone
            claim(store, report.job_id, sleeper.pid, processes.this_process()[1],
                  processes.started(sleeper.pid) + 1)
            assert list_jobs(store)["status"].to_list() == ["interrupted"]
            report = job_runner(store).run(ItemProfilesJob(), store.dataset())
            assert report.status == "done" and report.n_done == 24
    finally:
        sleeper.kill()
        sleeper.wait()


def test_another_hosts_job_is_refused_until_forced_or_silent(db):
    with Store.open(db) as store:
        report = job_runner(store).run(ItemProfilesJob(), store.dataset(), limit=4)
        claim(store, report.job_id, 123, "another-host", None)
        assert list_jobs(store)["status"].to_list() == ["running"]
        with pytest.raises(StoreError, match="on another-host; --force to take it over once "
                                             "that process is gone"):
            job_runner(store).run(ItemProfilesJob(), store.dataset())
        assert job_runner(store).run(ItemProfilesJob(), store.dataset(), limit=8,
                                     force=True).n_done == 8
        claim(store, report.job_id, 123, "another-host", None,
              updated_s_ago=processes.STALE_AFTER_S + 60)
        assert list_jobs(store)["status"].to_list() == ["interrupted"]
        assert job_runner(store).run(ItemProfilesJob(), store.dataset()).n_done == 24
        rows = store.con.execute("SELECT count(*), count(DISTINCT entity_idx) FROM profiles"
                                 ).fetchone()
        assert rows == (24, 24)


def test_a_runner_whose_job_was_taken_over_writes_its_chunk_once_and_stops(db):
    with Store.open(db) as store:
        runner_ = job_runner(store)
        kind = ItemProfilesJob()
        taken = []

        def take_over(report):  # another process claims the job and writes some rows
            if not taken:
                taken.append(True)
                claim(store, report.job_id, 999_999, "another-host", None)
                store.con.execute(
                    "INSERT INTO profiles (job_id, dataset_id, entity, entity_idx, summary, "
                    "profile) SELECT ?, 1, 'item', i, 's', '{}' FROM range(4, 12) t(i)",
                    [report.job_id])
        with pytest.raises(StoreError, match="was taken over by PID 999999 on another-host"):
            runner_.run(kind, store.dataset(), on_chunk=take_over)
        rows = store.con.execute("SELECT count(*), count(DISTINCT entity_idx) FROM profiles"
                                 ).fetchone()
        assert rows[0] == rows[1] == 12  # its own first chunk, the other's 8; none twice


JOB = """
    import sys, time
    from workbench.augment.engine import SamplingSettings
    from workbench.augment.jobs import JobRunner
    from workbench.profiles.items import ItemProfilesJob
    from workbench.store import Store
    from tests.augment.fakes import FakeEngine

    def answer(conversation, attempt):
        time.sleep(float(sys.argv[2]))  # the LLM at work (the store is released meanwhile)
        return '{"summary": "For fans of dramas.", "reasoning": "r"}'
    with Store.open(sys.argv[1]) as store:
        runner = JobRunner(store, FakeEngine(answer), SamplingSettings(), "fake",
                           chunk_size=4, max_attempts=1)
        print("started", flush=True)
        report = runner.run(ItemProfilesJob(), store.dataset())
    print("finished", report.n_new, flush=True)
"""


@pytest.mark.slow
def test_two_runners_of_one_job_never_crash_or_write_twice(db):
    first = child(JOB, str(db), "0.05")
    assert first.stdout.readline().strip() == "started"
    time.sleep(0.5)
    second = child(JOB, str(db), "0.05")
    out2, err2 = second.communicate(timeout=120)
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode != 0 and "is running in PID" in err2
    assert "ConstraintException" not in err1 + err2
    with Store.open_read_only(db) as store:
        rows = store.con.execute("SELECT count(*), count(DISTINCT entity_idx) FROM profiles"
                                 ).fetchone()
    assert rows == (24, 24)


# -- one error path -----------------------------------------------------------------------------
def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output and result.exit_code == 1, result.output
    return " ".join(" ".join(lines).split())


@pytest.mark.parametrize("args", [["datasets"], ["runs"], ["jobs"], ["stats"], ["train"],
                                  ["experiment", "ablation"], ["augment", "embed"],
                                  ["graph", "build"], ["recommend", "1", "--run", "latest"]])
def test_a_damaged_store_is_one_line_for_every_command(workbench_home, args):
    workbench_home.mkdir(parents=True, exist_ok=True)
    good = workbench_home / "good.duckdb"
    with Store.open(good):
        pass
    (workbench_home / "workbench.duckdb").write_bytes(good.read_bytes()[:5000])  # truncated
    message = one_line(runner.invoke(app, args))
    assert "the store" in message and "move it aside" in message


@pytest.mark.parametrize("home,expected", [("file", "is a file, not a folder"),
                                           ("/proc/no-such/home", "cannot create")])
def test_a_home_that_cannot_be_a_folder_is_one_line(tmp_path, monkeypatch, home, expected):
    if home == "file":
        home = tmp_path / "file"
        home.write_text("x")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    for args in (["datasets"], ["ingest", str(TOY_DIR)], ["train"]):
        assert expected in one_line(runner.invoke(app, args))


def test_an_unexpected_error_is_one_line_with_the_log(workbench_home, monkeypatch):
    import workbench.graph.cli as graph_cli

    def boom(*args, **kwargs):
        raise RuntimeError("something nobody foresaw\nsecond line")

    assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    monkeypatch.setattr(graph_cli, "dataset_stats", boom)
    message = one_line(runner.invoke(app, ["stats"]))
    assert "unexpected RuntimeError: something nobody foresaw" in message
    assert "second line" not in message and "workbench.log" in message
    log = (workbench_home / "logs" / "workbench.log").read_text()
    assert "Traceback" in log and "something nobody foresaw" in log


@pytest.mark.parametrize("args,expected", [
    (["ingest", "--ratios", "0.5,x"], "--ratios takes three non-negative shares"),
    (["ingest", "--ratios", "0.5,0.6,0.1"], "that sum to 1"),
    (["recommend", "1", "--run", "nope"], "unknown run 'nope'"),
])
def test_bad_options_are_one_line(workbench_home, args, expected):
    if args[0] == "recommend":
        assert runner.invoke(app, ["ingest", str(TOY_DIR)]).exit_code == 0
    assert expected in one_line(runner.invoke(app, args))


# -- the soak ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_soak_a_job_a_training_run_and_dashboard_reads_on_one_store(db):
    """For a bounded time: an enrichment job (scripted engine), a training run and dashboard
    reads on one store. Every entity done exactly once, the run finished, no read blocked for
    longer than the dashboard's notice, no traceback anywhere."""
    from workbench.app.queries import Reader

    job = child(JOB, str(db), "0.15")
    training = child(TRAIN, str(db), "300")
    assert job.stdout.readline().strip() == "started"
    assert training.stdout.readline().startswith("epoch")
    reader = Reader(db, timeout_s=2.0, upgrade=False)  # the dashboard: notice after 1 s
    slowest, reads, deadline = 0.0, 0, time.monotonic() + 90
    while (job.poll() is None or training.poll() is None) and time.monotonic() < deadline:
        start = time.monotonic()
        reader.frame("SELECT (SELECT count(*) FROM profiles) AS p, "
                     "(SELECT count(*) FROM run_epochs) AS e")
        slowest = max(slowest, time.monotonic() - start)
        reads += 1
        time.sleep(0.05)
    job_out, job_err = job.communicate(timeout=120)
    train_out, train_err = training.communicate(timeout=120)
    assert job.returncode == 0 and training.returncode == 0, job_err + train_err
    assert "Traceback" not in job_err + train_err
    print(f"soak: {reads} dashboard reads, slowest {slowest:.2f} s")
    assert reads >= 10 and slowest < 2.0
    with Store.open_read_only(db) as store:
        profiles = store.con.execute(
            "SELECT count(*), count(DISTINCT entity_idx) FROM profiles").fetchone()
        job_status = store.con.execute("SELECT status, n_done FROM jobs").fetchone()
        run_status = store.con.execute("SELECT status FROM runs").fetchone()[0]
    assert profiles == (24, 24) and job_status == ("done", 24) and run_status == "done"
