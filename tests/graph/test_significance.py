import numpy as np
import pytest

from workbench.graph.significance import paired_bootstrap


def test_constant_difference_has_a_point_interval():
    base = np.array([[0.0, 0.5, 1.0, 0.25]])
    ci = paired_bootstrap(base + 0.1, base, n_boot=200)
    assert ci.mean_diff == pytest.approx(0.1)
    assert (ci.lo, ci.hi) == (pytest.approx(0.1), pytest.approx(0.1))
    assert ci.rel == pytest.approx(0.1 / base.mean())


def test_two_users_by_hand():
    # differences 0 and 1: a resample of two users has mean 0 (p 1/4), 0.5 (1/2) or 1 (1/4),
    # so the 2.5th and 97.5th percentiles are 0 and 1, and the mean difference is 0.5
    ci = paired_bootstrap(np.array([[1.0, 2.0]]), np.array([[1.0, 1.0]]), n_boot=4000)
    assert ci.mean_diff == pytest.approx(0.5)
    assert (ci.lo, ci.hi) == (0.0, 1.0)
    assert ci.rel == pytest.approx(0.5)


def test_seeds_are_averaged_per_user_before_resampling():
    variant = np.array([[1.0, 0.0], [0.0, 1.0]])  # per user, the two seeds average to 0.5
    base = np.full((2, 2), 0.5)
    ci = paired_bootstrap(variant, base, n_boot=500)
    assert (ci.mean_diff, ci.lo, ci.hi) == (0.0, 0.0, 0.0)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="must match"):
        paired_bootstrap(np.zeros((2, 3)), np.zeros((1, 3)))
