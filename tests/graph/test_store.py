import duckdb
import pytest

from graph.migrations import MIGRATIONS
from graph.store import Store, StoreError


def test_migrations_are_recorded_once(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store.open(path) as store:
        names = [r[0] for r in store.con.execute("SELECT name FROM _migrations").fetchall()]
    assert names == [m.__name__ for m in MIGRATIONS]
    with Store.open(path) as store:  # re-open: nothing applied twice
        assert store.con.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)


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


def test_locked_store_gives_a_clear_error(tmp_path):
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "locked.duckdb"
    Store.open(path).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print("ready", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="locked by another process"):
            Store.open(path)
    finally:
        holder.kill()
        holder.wait()
