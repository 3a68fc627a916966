"""The real datasets: the bundled default (from the recbole wheel) and ../shared/data."""

import pytest

from workbench.graph.ingest import IngestOptions, ingest
from tests.conftest import SHARED_DATA


def test_default_is_movielens_100k(store, tmp_path):
    info = ingest(store, IngestOptions(), tmp_path)
    assert (info.name, info.n_users, info.n_items, info.n_interactions) == (
        "ml-100k", 943, 1682, 100_000)
    splits = dict(store.con.execute(
        "SELECT split, count(*) FROM interactions GROUP BY split").fetchall())
    assert sum(splits.values()) == 100_000 and splits["train"] > 0.79 * 100_000
    title = store.con.execute("SELECT title FROM items WHERE item_key = '1'").fetchone()[0]
    assert title == "Toy Story"


@pytest.mark.slow
def test_gowalla_counts(store, tmp_path):
    if not (SHARED_DATA / "gowalla").exists():
        pytest.skip("needs ../shared/data (set WORKBENCH_SHARED_DATA)")
    info = ingest(store, IngestOptions(path=SHARED_DATA / "gowalla"), tmp_path)
    assert (info.n_users, info.n_items) == (29_858, 40_981)
    splits = dict(store.con.execute(
        "SELECT split, count(*) FROM interactions GROUP BY split").fetchall())
    assert splits == {"train": 810_128, "test": 217_242}
