"""Train/validation/test splits, assigned once at ingest and recorded with the dataset.

- ``random``: per user, a seeded random ratio split (default 0.8/0.1/0.1). Per user with ``n``
  interactions: ``floor(n * r)`` go to validation and test each (at least one each when
  ``n >= 3`` and the ratio is positive), the rest to training.
- ``loo``: leave-one-out by time: each user's last interaction is test, the one before it is
  validation (users with fewer than 3 interactions keep all in training).
- ``given``: the source's own split (LightGCN ``train.txt``/``test.txt``). Optionally a
  seeded ``valid_from_train`` ratio of each user's training items becomes validation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, field_validator

SplitMethod = Literal["random", "loo", "given"]


class SplitConfig(BaseModel):
    method: SplitMethod = "random"
    # train / valid / test shares for `random`; must sum to 1.
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    # Seed of every random choice in the split.
    seed: int = 2020
    # For `given` splits without validation: share of each user's training items moved there.
    valid_from_train: float = 0.0

    @field_validator("ratios")
    @classmethod
    def _sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r < 0 for r in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError(f"split ratios must be non-negative and sum to 1, got {v}")
        return v


def _random_rank(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Order rows canonically (so input order does not matter), then rank by a seeded draw."""
    frame = frame.sort("user_key", "item_key")
    draws = np.random.default_rng(seed).random(frame.height)
    return frame.with_columns(pl.Series("_draw", draws)).with_columns(
        pl.col("_draw").rank("ordinal").over("user_key").sub(1).alias("_rank"),
        pl.len().over("user_key").alias("_n"),
    )


def _share(n: pl.Expr, ratio: float) -> pl.Expr:
    count = (n * ratio).floor().cast(pl.Int64)
    if ratio > 0:
        count = pl.when((count == 0) & (n >= 3)).then(1).otherwise(count)
    return count


def random_split(frame: pl.DataFrame, ratios: tuple[float, float, float], seed: int,
                 labels: tuple[str, str, str] = ("train", "valid", "test")) -> pl.DataFrame:
    ranked = _random_rank(frame, seed)
    n_valid, n_test = _share(pl.col("_n"), ratios[1]), _share(pl.col("_n"), ratios[2])
    n_train = pl.col("_n") - n_valid - n_test
    split = (pl.when(pl.col("_rank") < n_train).then(pl.lit(labels[0]))
             .when(pl.col("_rank") < n_train + n_valid).then(pl.lit(labels[1]))
             .otherwise(pl.lit(labels[2])))
    return ranked.with_columns(split.alias("split")).drop("_draw", "_rank", "_n")


def leave_one_out(frame: pl.DataFrame) -> pl.DataFrame:
    if frame["ts"].null_count():
        raise ValueError("leave-one-out by time needs a timestamp (or sequence order) on "
                         "every interaction; this source has none: use --split random")
    ranked = frame.sort("user_key", "ts", "item_key").with_columns(
        pl.int_range(pl.len()).over("user_key").alias("_pos"), pl.len().over("user_key").alias("_n")
    )
    split = (pl.when(pl.col("_n") < 3).then(pl.lit("train"))
             .when(pl.col("_pos") == pl.col("_n") - 1).then(pl.lit("test"))
             .when(pl.col("_pos") == pl.col("_n") - 2).then(pl.lit("valid"))
             .otherwise(pl.lit("train")))
    return ranked.with_columns(split.alias("split")).drop("_pos", "_n")


def assign_split(frame: pl.DataFrame, config: SplitConfig) -> pl.DataFrame:
    """Fill the ``split`` column of an interaction frame as the config says."""
    if config.method == "random":
        return random_split(frame, config.ratios, config.seed)
    if config.method == "loo":
        return leave_one_out(frame)
    if frame["split"].null_count():
        raise ValueError("--split given needs a source with its own split (e.g. LightGCN "
                         "train.txt/test.txt); this one has none: use --split random or loo")
    if config.valid_from_train <= 0:
        return frame
    train = frame.filter(pl.col("split") == "train")
    rest = frame.filter(pl.col("split") != "train")
    share = config.valid_from_train
    train = random_split(train, (1 - share, share, 0.0), config.seed)
    return pl.concat([train, rest])
