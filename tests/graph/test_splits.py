import polars as pl
import pytest

from workbench.graph.splits import SplitConfig, assign_split, leave_one_out, random_split


def frame(n_users=5, n_items=20):
    rows = [(str(u), str(i), float(i)) for u in range(n_users) for i in range(n_items)]
    return pl.DataFrame(rows, schema=["user_key", "item_key", "ts"], orient="row").with_columns(
        pl.lit(None, pl.String).alias("split"))


def test_random_split_shares_per_user():
    out = random_split(frame(), (0.8, 0.1, 0.1), seed=1)
    counts = out.group_by("user_key", "split").len()
    assert set(counts.filter(pl.col("split") == "train")["len"]) == {16}
    assert set(counts.filter(pl.col("split") == "valid")["len"]) == {2}
    assert set(counts.filter(pl.col("split") == "test")["len"]) == {2}


def test_random_split_is_seeded_and_input_order_free():
    f = frame()
    a = random_split(f, (0.8, 0.1, 0.1), seed=3).sort("user_key", "item_key")
    b = random_split(f.reverse(), (0.8, 0.1, 0.1), seed=3).sort("user_key", "item_key")
    c = random_split(f, (0.8, 0.1, 0.1), seed=4).sort("user_key", "item_key")
    assert a["split"].to_list() == b["split"].to_list()
    assert a["split"].to_list() != c["split"].to_list()


def test_small_users_get_one_of_each_and_keep_training():
    out = random_split(frame(n_users=1, n_items=3), (0.8, 0.1, 0.1), seed=0)
    assert sorted(out["split"].to_list()) == ["test", "train", "valid"]
    two = random_split(frame(n_users=1, n_items=2), (0.8, 0.1, 0.1), seed=0)
    assert two["split"].to_list() == ["train", "train"]


def test_leave_one_out_takes_the_latest():
    out = leave_one_out(frame(n_users=2, n_items=5)).filter(pl.col("user_key") == "0")
    by_item = dict(zip(out["item_key"], out["split"]))
    assert by_item["4"] == "test" and by_item["3"] == "valid" and by_item["0"] == "train"


def test_leave_one_out_needs_time():
    f = frame().with_columns(pl.lit(None, pl.Float64).alias("ts"))
    with pytest.raises(ValueError, match="timestamp"):
        leave_one_out(f)


def test_given_split_can_carve_validation_from_train():
    f = frame().with_columns(
        pl.when(pl.col("item_key").cast(pl.Int64) < 15).then(pl.lit("train"))
        .otherwise(pl.lit("test")).alias("split"))
    out = assign_split(f, SplitConfig(method="given", valid_from_train=0.2))
    counts = dict(out.group_by("split").len().iter_rows())
    assert counts == {"train": 60, "valid": 15, "test": 25}


def test_given_split_needs_a_source_split():
    with pytest.raises(ValueError, match="its own split"):
        assign_split(frame(), SplitConfig(method="given"))


def test_ratios_must_sum_to_one():
    with pytest.raises(ValueError):
        SplitConfig(ratios=(0.5, 0.1, 0.1))
