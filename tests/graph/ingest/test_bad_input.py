"""Every bad input gets one clear error naming file/line/column and leaves the store as it was."""

import pytest

from workbench.graph.ingest import IngestError, IngestOptions, ingest
from tests.conftest import write

GOOD_INTER = "user_id:token\titem_id:token\trating:float\nu1\ti1\t5\nu1\ti2\t3\nu2\ti1\t4\n"
GOOD_ITEM = "item_id:token\ttitle:token\ni1\tOne\ni2\tTwo\n"


def snapshot(store):
    return {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("datasets", "users", "items", "interactions")}


@pytest.fixture
def loaded(store, tmp_path):
    d = tmp_path / "good"
    write(d / "good.inter", GOOD_INTER), write(d / "good.item", GOOD_ITEM)
    ingest(store, IngestOptions(path=d), tmp_path)
    return store


CASES = {
    "missing column": ("user_id:token\trating:float\nu1\t5\n", None, r"bad\.inter.*missing "
                       r"required column 'item_id'"),
    "wrong type": ("user_id:token\titem_id:token\trating:float\nu1\ti1\t5\nu1\ti2\tfive\n", None,
                   r"bad\.inter, line 3, column 'rating': cannot read 'five'"),
    "too many fields": ("user_id:token\titem_id:token\nu1\ti1\nu1\ti2\textra\n", None,
                        r"bad\.inter, line 3: the header has 2 fields and this row 3"),
    "too few fields": ("user_id:token\titem_id:token\trating:float\nu1\ti1\t4\nu2\n", None,
                       r"bad\.inter, line 3: the header has 3 fields and this row 1"),
    "untyped header": ("user_id\titem_id\nu1\ti1\n", None, r"line 1: header field 'user_id' "
                       r"lacks a type"),
    "unknown item": (GOOD_INTER + "u3\ti9\t4\n", GOOD_ITEM, r"bad\.inter, line 5: unknown item 'i9'"),
    "duplicate pair": (GOOD_INTER + "u1\ti2\t4\n", None, r"duplicate \(user, item\) pair \(u1, i2\)"
                       r" at bad\.inter:3, bad\.inter:5"),
    "empty file": ("", None, r"bad\.inter: the file is empty"),
    "wrong encoding": ("user_id:token\titem_id:token\nu1\ti1\n".encode() + b"\xe9t\xe9\ti2\n",
                       None, r"bad\.inter, line 3: not valid UTF-8"),
    "duplicate item row": (GOOD_INTER, GOOD_ITEM + "i1\tAgain\n", r"item id 'i1' appears more "
                           "than once"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_recbole_input_is_named_and_changes_nothing(loaded, tmp_path, case):
    inter, item, pattern = CASES[case]
    d = tmp_path / "bad"
    write(d / "bad.inter", inter)
    if item is not None:
        write(d / "bad.item", item)
    before = snapshot(loaded)
    with pytest.raises(IngestError, match=pattern):
        ingest(loaded, IngestOptions(path=d), tmp_path)
    assert snapshot(loaded) == before


@pytest.mark.parametrize("train,pattern", [
    ("0 1 2\nx 3\n", r"train\.txt, line 2: id 'x' is not an integer"),
    ("0 1 2\n7\n", r"train\.txt, line 2: expected `user item"),
])
def test_bad_lightgcn_lines(loaded, tmp_path, train, pattern):
    d = tmp_path / "lg"
    write(d / "train.txt", train), write(d / "test.txt", "0 3\n")
    before = snapshot(loaded)
    with pytest.raises(IngestError, match=pattern):
        ingest(loaded, IngestOptions(path=d), tmp_path)
    assert snapshot(loaded) == before


def test_csv_ragged_row_names_the_line(store, tmp_path):
    p = write(tmp_path / "r.csv", "user_id,item_id\na,1\nb,2,3\n")
    with pytest.raises(IngestError, match=r"r\.csv, line 3: the header has 2 fields and this "
                                          r"row 3"):
        ingest(store, IngestOptions(path=p), tmp_path)


def test_csv_short_row_is_refused_not_read_as_nulls(store, tmp_path):
    from workbench.graph.ingest import ColumnMap

    p = write(tmp_path / "s.csv", "user_id,item_id,rating\na,1,5\nb,2\n")
    with pytest.raises(IngestError, match=r"s\.csv, line 3: the header has 3 fields and this "
                                          r"row 2"):
        ingest(store, IngestOptions(path=p, columns=ColumnMap(rating="rating")), tmp_path)
    assert store.con.execute("SELECT count(*) FROM interactions").fetchone()[0] == 0


def test_ragged_row_after_a_quoted_newline_names_its_own_line(store, tmp_path):
    # line 2-3 hold one record (a quoted newline), line 4 is the short one
    p = write(tmp_path / "q.csv", 'user_id,item_id,note\na,1,"two\nlines, and a comma"\n'
                                   'b,2\nc,3,x\n')
    with pytest.raises(IngestError, match=r"q\.csv, line 4:"):
        ingest(store, IngestOptions(path=p), tmp_path)


@pytest.mark.parametrize("header,pattern", [
    ("user_id:float\titem_id:token", r"line 1, column 'user_id': user_id is declared :float"),
    ("user_id:token\titem_id:token_seq", r"column 'item_id': item_id is declared :token_seq"),
    ("user_id:token\titem_id:token\trating:token", r"column 'rating': rating is declared "
                                                    r":token.*rating:float"),
    ("user_id:token\titem_id:token\tx:blob", r"column 'x': unknown type 'blob'"),
])
def test_recbole_types_are_checked_for_mapped_columns(store, tmp_path, header, pattern):
    n = header.count("\t") + 1
    p = write(tmp_path / "t" / "t.inter", header + "\n" + "\t".join(["1"] * n) + "\n")
    with pytest.raises(IngestError, match=pattern):
        ingest(store, IngestOptions(path=p), tmp_path)


def test_recbole_unmapped_columns_are_not_checked(store, tmp_path):
    d = tmp_path / "u"
    write(d / "u.inter", "user_id:token\titem_id:token\tweird:float\nu1\ti1\tn/a\n"
                         "u2\ti1\t3\n")
    write(d / "u.item", "item_id:token\ttitle:token\tprice:float\ni1\tOne\tunknown\n")
    info = ingest(store, IngestOptions(path=d), tmp_path)
    assert info.n_interactions == 2
    text = store.con.execute("SELECT text FROM items").fetchone()[0]
    assert '"price":"unknown"' in text  # kept as text, not a reason to refuse the file


def test_parquet_list_columns_unmapped_are_ignored_and_mapped_are_named(store, tmp_path):
    import polars as pl

    from workbench.graph.ingest import ColumnMap

    p = tmp_path / "l.parquet"
    pl.DataFrame({"u": [1, 2, 2], "i": ["a", "a", "b"], "tags": [["x"], [], ["y", "z"]],
                  "when": pl.Series([1, 2, 3]).cast(pl.Datetime("ms"))}).write_parquet(p)
    info = ingest(store, IngestOptions(path=p, columns=ColumnMap(
        user="u", item="i", timestamp="when")), tmp_path)
    assert info.n_interactions == 3  # integer ids become text, datetimes seconds
    with pytest.raises(IngestError, match=r"l\.parquet, column 'tags': holds List"):
        ingest(store, IngestOptions(path=p, name="again", columns=ColumnMap(
            user="u", item="tags")), tmp_path)
    with pytest.raises(IngestError, match=r"column 'tags': holds List.*must hold numbers"):
        ingest(store, IngestOptions(path=p, name="again", columns=ColumnMap(
            user="u", item="i", rating="tags")), tmp_path)


def test_csv_missing_mapped_column(store, tmp_path):
    from workbench.graph.ingest import ColumnMap

    p = write(tmp_path / "x.csv", "user,item\na,1\n")
    with pytest.raises(IngestError, match=r"x\.csv.*missing column 'stars'"):
        ingest(store, IngestOptions(path=p, columns=ColumnMap(user="user", item="item",
                                                               rating="stars")), tmp_path)


def test_dedupe_keeps_latest(store, tmp_path):
    d = tmp_path / "dup"
    write(d / "dup.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                           "u1\ti1\t1\t10\nu1\ti1\t5\t20\nu2\ti1\t3\t5\n")
    info = ingest(store, IngestOptions(path=d, dedupe=True), tmp_path)
    assert info.n_interactions == 2
    assert store.con.execute("SELECT max(rating) FROM interactions").fetchone()[0] == 5.0


def test_reingest_same_source_is_idempotent(loaded, tmp_path):
    before = snapshot(loaded)
    ingest(loaded, IngestOptions(path=tmp_path / "good"), tmp_path)
    assert snapshot(loaded) == before


def test_reingest_changed_source_is_refused_unless_replace(loaded, tmp_path):
    d = tmp_path / "good"
    write(d / "good.inter", GOOD_INTER + "u2\ti2\t1\n")
    with pytest.raises(IngestError, match="already exists"):
        ingest(loaded, IngestOptions(path=d), tmp_path)
    info = ingest(loaded, IngestOptions(path=d, replace=True), tmp_path)
    assert info.n_interactions == 4
    assert snapshot(loaded)["datasets"] == 1


def test_failure_while_writing_rolls_back(loaded, tmp_path, monkeypatch):
    from workbench.store import Store

    d = tmp_path / "other"
    write(d / "other.inter", GOOD_INTER)
    before = snapshot(loaded)
    real = Store.insert_frame

    def fail_on_interactions(self, table, frame):
        if table == "interactions":
            raise OSError("disk full")
        return real(self, table, frame)

    monkeypatch.setattr(Store, "insert_frame", fail_on_interactions)
    with pytest.raises(OSError):
        ingest(loaded, IngestOptions(path=d), tmp_path)
    assert snapshot(loaded) == before


def test_unknown_format_lists_the_registered_ones(store, tmp_path):
    from workbench.graph.ingest import IngestError, IngestOptions, ingest

    with pytest.raises(IngestError, match="unknown format 'nope'; known formats: recbole, "
                                          "lightgcn, amazon, table"):
        ingest(store, IngestOptions(path=tmp_path, format="nope"), tmp_path)
