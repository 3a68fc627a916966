r"""Paired comparisons of two models on the same users: a bootstrap confidence interval.

For each user :math:`u` evaluated by both, with matched seeds :math:`s = 1..S`, the paired
difference is :math:`d_u = \frac{1}{S}\sum_s (m^{v}_{s,u} - m^{b}_{s,u})` (variant minus
base). Users are resampled with replacement :math:`B` times; the 2.5th and 97.5th
percentiles of the resampled mean difference are the 95% interval, and likewise for the
relative lift :math:`\bar m^{v} / \bar m^{b} - 1` on the same resamples. Resampling users
(not runs) is what makes the interval about the population of users the split was drawn from;
averaging seeds first keeps training noise inside each user's difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PairedCI:
    mean_diff: float  # mean over users of the seed-averaged difference
    lo: float  # 95% interval of the mean difference
    hi: float
    rel: float  # relative lift: variant mean / base mean - 1
    rel_lo: float
    rel_hi: float
    n_users: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def paired_bootstrap(variant: np.ndarray, base: np.ndarray, n_boot: int = 2000,
                     seed: int = 0, level: float = 0.95) -> PairedCI:
    """``variant`` and ``base``: ``(seeds, users)`` per-user metrics, the same users in the
    same order and matched seeds (row s of each trained with seed s)."""
    variant, base = np.atleast_2d(variant).astype(float), np.atleast_2d(base).astype(float)
    if variant.shape != base.shape:
        raise ValueError(f"paired metrics must match: {variant.shape} vs {base.shape}")
    v, b = variant.mean(0), base.mean(0)
    n = v.shape[0]
    if n == 0:
        raise ValueError("no users to compare")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    v_means, b_means = v[idx].mean(1), b[idx].mean(1)
    diffs = v_means - b_means
    with np.errstate(divide="ignore", invalid="ignore"):
        rels = np.where(b_means > 0, v_means / b_means - 1.0, np.nan)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(diffs, [tail, 100 - tail])
    rel_lo, rel_hi = np.nanpercentile(rels, [tail, 100 - tail]) if np.isfinite(rels).any() \
        else (np.nan, np.nan)
    rel = v.mean() / b.mean() - 1.0 if b.mean() > 0 else float("nan")
    return PairedCI(float(v.mean() - b.mean()), float(lo), float(hi), float(rel),
                    float(rel_lo), float(rel_hi), n)
