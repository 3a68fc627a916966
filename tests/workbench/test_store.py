import subprocess
import sys
import textwrap

import duckdb
import pytest

from workbench.migrations import all_migrations, apply_migrations, pending_migrations

MIGRATIONS = all_migrations()
from workbench.store import Store, StoreError


def test_migrations_are_recorded_once(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store.open(path) as store:
        names = [r[0] for r in store.con.execute("SELECT name FROM _migrations").fetchall()]
    assert names == [m.__name__ for m in MIGRATIONS]
    with Store.open(path) as store:  # re-open: nothing applied twice
        assert store.con.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


def test_read_only_open_upgrades_an_older_store(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))  # a store written before the last migration existed
    apply_migrations(con, MIGRATIONS[:-1])
    con.close()
    with Store.open_read_only(path) as store:
        assert pending_migrations(store.con) == []
        store.con.execute("SELECT objectives FROM runs").fetchall()
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM _migrations WHERE name = ?", [MIGRATIONS[-1].__name__])
    con.execute("ALTER TABLE runs DROP COLUMN objectives")
    con.close()
    # another reader (e.g. an old dashboard) holds the file: a clear error, not a missing
    # column later
    holder = hold_lock(path, read_only=True)
    try:
        with pytest.raises(StoreError, match="needs a schema upgrade"):
            Store.open_read_only(path, timeout_s=0)
    finally:
        holder.kill()
        holder.wait()


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as con:
            con.execute("INSERT INTO users VALUES (1, 0, 'u', NULL)")
            raise RuntimeError("boom")
    assert store.con.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_read_only_open_of_missing_store_is_clear(tmp_path):
    with pytest.raises(StoreError, match="no store"):
        Store.open_read_only(tmp_path / "missing.duckdb")


def test_unknown_dataset_names_the_known_ones(toy_store):
    with pytest.raises(StoreError, match="unknown dataset 'nope'.*toy"):
        toy_store.dataset("nope")


def hold_lock(path, read_only: bool = False) -> subprocess.Popen:
    """Another process holding the store open (until killed)."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r}, read_only={read_only})
        print("ready", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    return holder


def test_locked_store_gives_a_clear_error(tmp_path):
    path = tmp_path / "locked.duckdb"
    Store.open(path).close()
    holder = hold_lock(path)
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            Store.open(path, timeout_s=0.5)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_out_of_disk_during_ingest_is_clear_and_loses_nothing(tmp_path):
    import os
    from pathlib import Path

    import numpy as np
    import polars as pl

    from workbench.data import TOY_DIR
    from tests.conftest import limit_file_size

    home = tmp_path / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    workbench = str(Path(sys.executable).parent / "workbench")
    subprocess.run([workbench, "ingest", str(TOY_DIR)], env=env, check=True,
                   capture_output=True)
    rng = np.random.default_rng(0)
    big = tmp_path / "big.csv"
    pl.DataFrame({"user_id": rng.integers(0, 5000, 300_000),
                  "item_id": rng.integers(0, 3000, 300_000)}).unique().write_csv(big)
    db = home / "workbench.duckdb"
    full = subprocess.run([workbench, "ingest", str(big), "--format", "table"], env=env,
                          capture_output=True, text=True,
                          preexec_fn=limit_file_size(db.stat().st_size + 200_000))
    message = " ".join(full.stdout.split())
    assert full.returncode == 1 and "Traceback" not in full.stdout + full.stderr
    assert "could not write the store" in message and "Is the disk full?" in message
    with Store.open_read_only(db) as store:  # the toy dataset is intact, no half of "big"
        assert store.con.execute("SELECT name, n_interactions FROM datasets").fetchall() == \
            [("toy", 318)]
        assert store.con.execute("SELECT count(*) FROM interactions").fetchone()[0] == 318
    again = subprocess.run([workbench, "ingest", str(big), "--format", "table"], env=env,
                           capture_output=True, text=True)  # space again: it just works
    assert again.returncode == 0, again.stdout + again.stderr
