import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwatch.stats import (
    bin_counts,
    hellinger,
    hellinger_categorical,
    hellinger_from_counts,
    jensen_shannon,
    jensen_shannon_categorical,
    jensen_shannon_from_counts,
    psi,
    psi_categorical,
    psi_from_counts,
    quantile_edges,
)

RNG = np.random.default_rng(42)
NORMAL = RNG.normal(size=5000)

counts = st.lists(st.integers(0, 1000), min_size=2, max_size=12).filter(lambda c: sum(c) > 0)


def test_deciles_and_overflow_bins() -> None:
    edges = quantile_edges(NORMAL, 10)
    assert edges.size == 11
    assert edges[0] == NORMAL.min() and edges[-1] == NORMAL.max()
    c = bin_counts(NORMAL, edges)
    assert c.size == 12 and c[0] == 0 and c[-1] == 0 and c.sum() == NORMAL.size
    assert np.all(np.abs(c[1:-1] - 500) <= 1)
    out = bin_counts(np.array([-100.0, 100.0, NORMAL.max(), NORMAL.min()]), edges)
    assert out[0] == 1 and out[-1] == 1 and out[-2] == 1 and out[1] == 1


def test_duplicate_edges_collapse_for_discrete_data() -> None:
    data = np.repeat([1.0, 2.0, 3.0], [800, 100, 100])
    edges = quantile_edges(data, 10)
    assert edges.size < 11 and (np.diff(edges) > 0).all()
    assert psi(data, data).statistic == 0.0


def test_constant_reference_gets_a_degenerate_bin() -> None:
    res = psi(np.ones(100), np.r_[np.ones(50), np.full(50, 2.0)])
    assert res.edges is not None and list(res.edges) == [1.0, 1.0]
    assert res.cur_proportions[1] == 0.5 and res.cur_proportions[2] == 0.5


def test_explicit_edges() -> None:
    res = psi([0.5, 1.5, 2.5, 3.5], [0.5, 0.5, 3.5, 9.0], bins=[1.0, 2.0, 3.0])
    assert res.edges is not None and list(res.edges) == [1.0, 2.0, 3.0]
    assert res.contributions.size == 4
    with pytest.raises(ValueError, match="strictly increasing"):
        psi([1.0, 2.0], [1.0], bins=[2.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        psi([1.0, 2.0], [1.0], bins=[1.0, np.inf])


def test_psi_identical_is_zero_and_shift_is_detected() -> None:
    assert psi(NORMAL, NORMAL).statistic == pytest.approx(0.0, abs=1e-12)
    other = np.random.default_rng(1).normal(size=5000)
    assert psi(NORMAL, other).statistic < 0.02
    assert psi(NORMAL, other + 0.5).statistic > 0.2


def test_psi_matches_hand_computation() -> None:
    ref = np.array([10.0, 20, 30, 40])
    cur = np.array([40.0, 30, 20, 10])
    r, c = ref / 100, cur / 100
    expected = float(np.sum((c - r) * np.log(c / r)))
    assert psi_from_counts(ref, cur).statistic == pytest.approx(expected)


def test_psi_empty_bin_is_bounded_by_epsilon() -> None:
    res = psi_from_counts([0, 100], [100, 0], epsilon=1e-4)
    # each bin: (1 - eps) * ln(1 / eps); far from the ~700 a float-min floor gives
    assert res.statistic == pytest.approx(2 * (1 - 1e-4) * math.log(1e4))
    assert res.statistic < 20
    with pytest.raises(ValueError, match="epsilon"):
        psi_from_counts([1, 2], [2, 1], epsilon=0.0)


def test_psi_counts_nan_and_inf_as_dropped() -> None:
    res = psi(np.r_[NORMAL, np.nan, np.inf], np.r_[NORMAL, -np.inf])
    assert res.n_dropped == 3
    assert res.n_ref == NORMAL.size and res.statistic == pytest.approx(0.0, abs=1e-12)


def test_categorical_psi_union_of_categories() -> None:
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 50 + ["b"] * 40 + ["c"] * 10 + [None]
    res = psi_categorical(ref, cur)
    assert res.categories == ("a", "b", "c")
    assert res.n_dropped == 1
    expected = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert res.statistic == pytest.approx(expected)


def test_js_matches_scipy_squared_base2() -> None:
    from scipy.spatial.distance import jensenshannon

    ref, cur = [10, 20, 30, 40], [25, 25, 25, 25]
    res = jensen_shannon_from_counts(ref, cur)
    assert res.distance == pytest.approx(jensenshannon(ref, cur, base=2))
    assert res.statistic == pytest.approx(res.distance**2)


def test_js_and_hellinger_disjoint_supports_are_one() -> None:
    ref = np.arange(100.0)
    assert jensen_shannon(ref, ref + 1000).statistic == pytest.approx(1.0)
    assert hellinger(ref, ref + 1000).statistic == pytest.approx(1.0)
    assert jensen_shannon_categorical(["a", "b"], ["c"]).statistic == pytest.approx(1.0)
    assert hellinger_categorical(["a"], ["b", "b"]).statistic == pytest.approx(1.0)
    assert jensen_shannon(ref, ref).statistic == 0.0
    assert hellinger(ref, ref).statistic == 0.0


def test_hellinger_closed_form() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    expected = math.sqrt(1 - np.sum(np.sqrt(p * q)))
    assert hellinger_from_counts(p * 10, q * 10).statistic == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(counts, counts)
def test_bounds_and_symmetry(a: list[int], b: list[int]) -> None:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    if sum(a) == 0 or sum(b) == 0:
        return
    js = jensen_shannon_from_counts(a, b).statistic
    h = hellinger_from_counts(a, b).statistic
    assert 0.0 <= js <= 1.0 and 0.0 <= h <= 1.0
    assert js == pytest.approx(jensen_shannon_from_counts(b, a).statistic, abs=1e-12)
    assert h == pytest.approx(hellinger_from_counts(b, a).statistic, abs=1e-12)
    assert psi_from_counts(a, b).statistic >= 0.0
    assert psi_from_counts(a, b).statistic == pytest.approx(
        psi_from_counts(b, a).statistic, abs=1e-9
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_binned_statistics_ignore_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(size=200), rng.normal(0.3, size=150)
    perm = rng.permutation(cur)
    assert psi(ref, cur).statistic == pytest.approx(psi(ref, perm).statistic)
    assert jensen_shannon(ref, cur).statistic == pytest.approx(jensen_shannon(ref, perm).statistic)


def test_bad_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        psi_from_counts([1, -1], [1, 1])
    with pytest.raises(ValueError, match="same number of bins"):
        jensen_shannon_from_counts([1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="sums to zero"):
        hellinger_from_counts([0, 0], [1, 1])
    with pytest.raises(ValueError, match="NaN"):
        psi_from_counts([np.nan, 1], [1, 1])
    with pytest.raises(ValueError, match="1-D"):
        psi_from_counts([[1, 1]], [[1, 1]])
