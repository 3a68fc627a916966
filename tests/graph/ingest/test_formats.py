"""One test per ingest format, on tiny files written by the test."""

import json

import pytest

from workbench.graph.ingest import ColumnMap, IngestOptions, ingest
from workbench.graph.splits import SplitConfig
from tests.conftest import write

INTER = ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
         "u1\ti1\t5\t10\nu1\ti2\t3\t20\nu1\ti3\t4\t30\nu2\ti1\t2\t15\nu2\ti3\t5\t25\nu2\ti2\t1\t35\n")
ITEM = ('item_id:token\tmovie_title:token_seq\tclass:token_seq\n'
        'i1\tFirst Film\tDrama\ni2\t"Second\nFilm"\tComedy Drama\ni3\tThird\tHorror\n')
USER = "user_id:token\tage:token\tgender:token\nu1\t24\tM\nu2\t53\tF\n"


def rows(store, sql, *params):
    return store.con.execute(sql, list(params)).fetchall()


def test_recbole_atomic_files(store, tmp_path):
    d = tmp_path / "mini"
    write(d / "mini.inter", INTER), write(d / "mini.item", ITEM), write(d / "mini.user", USER)
    info = ingest(store, IngestOptions(path=d), tmp_path)
    assert (info.name, info.n_users, info.n_items, info.n_interactions) == ("mini", 2, 3, 6)
    title, text = rows(store, "SELECT title, text FROM items WHERE item_key = 'i2'")[0]
    assert title == "Second\nFilm" and json.loads(text) == {"class": "Comedy Drama"}
    attrs = json.loads(rows(store, "SELECT attrs FROM users WHERE user_key = 'u2'")[0][0])
    assert attrs == {"age": "53", "gender": "F"}
    r = rows(store, "SELECT rating, ts FROM interactions i JOIN users u USING (dataset_id, user_idx)"
                    " JOIN items t USING (dataset_id, item_idx) WHERE user_key='u1' AND item_key='i2'")
    assert r == [(3.0, 20.0)]


def test_lightgcn_format_keeps_the_given_split(store, tmp_path):
    d = tmp_path / "lg"
    write(d / "train.txt", "0 0 1 2\n1 2 3\n")
    write(d / "test.txt", "0 3\n1 0 1\n")
    write(d / "item_list.txt", "org_id remap_id\n900 0\n901 1\n902 2\n903 3\n")
    info = ingest(store, IngestOptions(path=d), tmp_path)
    assert (info.n_users, info.n_items, info.n_interactions) == (2, 4, 8)
    assert dict(rows(store, "SELECT split, count(*) FROM interactions GROUP BY split")) == {
        "train": 5, "test": 3}
    # remapped ids keep their numbers as indices
    assert rows(store, "SELECT item_idx, item_key FROM items ORDER BY item_idx")[3] == (3, "3")
    assert json.loads(rows(store, "SELECT text FROM items WHERE item_idx = 3")[0][0]) == {
        "org_id": "903"}


def test_lightgcn_validation_carved_from_train(store, tmp_path):
    d = tmp_path / "lg"
    write(d / "train.txt", "0 " + " ".join(map(str, range(10))) + "\n")
    write(d / "test.txt", "0 10\n")
    ingest(store, IngestOptions(path=d, split=SplitConfig(method="given", valid_from_train=0.2)),
           tmp_path)
    assert dict(rows(store, "SELECT split, count(*) FROM interactions GROUP BY split")) == {
        "train": 8, "valid": 2, "test": 1}


def test_amazon_sequences_with_metadata(store, tmp_path):
    d = tmp_path / "beauty"
    write(d / "user_sequence.txt", "A1 B01 B02 B03\nA2 B03 B01 B02 B04\n")
    write(d / "Beauty.item", "item_id:token\ttitle:token\tbrand:token\tprice:float\n"
                             "B01\tLipstick &amp; Co\tX\t5.0\nB02\tCream\t\t\nB03\tSoap\tY\t1.5\n"
                             "B04\tBrush\tZ\t2\n")
    ingest(store, IngestOptions(path=d, split=SplitConfig(method="loo")), tmp_path)
    got = rows(store, "SELECT u.user_key, t.item_key, i.split FROM interactions i "
                      "JOIN users u USING (dataset_id, user_idx) JOIN items t USING "
                      "(dataset_id, item_idx) WHERE i.split != 'train' ORDER BY 1, 3")
    assert got == [("A1", "B03", "test"), ("A1", "B02", "valid"),
                   ("A2", "B04", "test"), ("A2", "B02", "valid")]
    assert json.loads(rows(store, "SELECT text FROM items WHERE item_key='B01'")[0][0]) == {
        "brand": "X", "price": 5.0}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_with_column_mapping(store, tmp_path, suffix):
    import polars as pl

    inter = pl.DataFrame({"uid": ["a", "a", "a", "b", "b", "b"], "iid": [1, 2, 3, 1, 2, 3],
                          "stars": [5, 4, 1, 3, 5, 2], "when": [1, 2, 3, 4, 5, 6]})
    items = pl.DataFrame({"iid": [1, 2, 3], "name": ["One", "Two", "Three"],
                          "desc": ["first", "second", None]})
    ip, tp = tmp_path / f"inter{suffix}", tmp_path / f"items{suffix}"
    if suffix == ".csv":
        inter.write_csv(ip), items.write_csv(tp)
    else:
        inter.write_parquet(ip), items.write_parquet(tp)
    cols = ColumnMap(user="uid", item="iid", rating="stars", timestamp="when", item_file=tp,
                     item_id="iid", title="name", text=["desc"])
    info = ingest(store, IngestOptions(path=ip, columns=cols, min_rating=3), tmp_path)
    assert (info.n_users, info.n_items, info.n_interactions) == (2, 3, 4)
    assert rows(store, "SELECT title, text FROM items WHERE item_key='2'") == [
        ("Two", '{"desc":"second"}')]


def test_k_core_filter_iterates(store, tmp_path):
    d = tmp_path / "kc"
    lines = ["user_id:token\titem_id:token"]
    lines += [f"u{u}\ti{i}" for u in range(3) for i in range(3)]  # a dense 3x3 block
    lines += ["u9\ti0", "u9\ti8"]  # u9 has 2, i8 has 1: both go, in two rounds
    write(d / "kc.inter", "\n".join(lines) + "\n")
    info = ingest(store, IngestOptions(path=d, k_core=3), tmp_path)
    assert (info.n_users, info.n_items, info.n_interactions) == (3, 3, 9)
