import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sp

from inferwatch.stats import ks, ks_from_cdfs, ks_pvalue, ks_statistic_from_sorted


@pytest.mark.parametrize(
    ("n", "m", "shift"),
    [(10, 20, 0.5), (50, 60, 0.3), (100, 100, 0.2), (37, 81, 1.0), (5, 7, 0.0), (1, 3, 0.0)],
)
def test_exact_matches_scipy(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n * m)
    a, b = rng.normal(size=n), rng.normal(shift, size=m)
    ours = ks(a, b)
    ref = sp.ks_2samp(a, b, method="exact")
    assert ours.method == "exact"
    # scipy's statistic is a float division too; newer scipy rounds it differently.
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12, abs=1e-12)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-12)


@pytest.mark.parametrize(
    ("n", "m", "shift"),
    [(1000, 800, 0.1), (300, 5000, 0.1), (2000, 2000, 0.05), (200, 300, 0.2), (5000, 4000, 0.08)],
)
def test_asymptotic_matches_scipy(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n + m)
    a, b = rng.normal(size=n), rng.normal(shift, size=m)
    ours = ks(a, b)
    ref = sp.ks_2samp(a, b, method="asymp")
    assert ours.method == "asymp"
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12, abs=1e-12)
    # scipy uses the one-sample distribution at round(en); both approximate the same null
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=0.05, abs=0.01)


def test_ties_use_asymptotic_and_statistic_matches() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, size=40).astype(float)
    b = rng.integers(1, 6, size=30).astype(float)
    ours = ks(a, b)
    assert ours.method == "asymp"
    assert ours.statistic == pytest.approx(sp.ks_2samp(a, b).statistic, rel=1e-12, abs=1e-12)


def test_identical_and_disjoint() -> None:
    x = np.arange(50.0)
    assert ks(x, x).statistic == 0.0 and ks(x, x).pvalue == 1.0
    far = ks(x, x + 100)
    assert far.statistic == 1.0
    assert far.pvalue == pytest.approx(sp.ks_2samp(x, x + 100).pvalue, rel=1e-6)


def test_from_cdfs_with_unit_weights_equals_raw() -> None:
    rng = np.random.default_rng(5)
    a, b = np.sort(rng.normal(size=700)), np.sort(rng.normal(0.2, size=900))
    res = ks_from_cdfs(a, np.arange(1.0, 701), b, np.arange(1.0, 901))
    assert res.statistic == pytest.approx(sp.ks_2samp(a, b).statistic, abs=1e-12)
    assert res.n_ref == 700 and res.n_cur == 900
    assert res.pvalue == pytest.approx(ks(a, b).pvalue)


def test_from_cdfs_with_weights() -> None:
    # values 1, 2 with weights 3, 1 versus the same as raw samples [1, 1, 1, 2]
    res = ks_from_cdfs([1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [1.0, 2.0])
    assert res.statistic == pytest.approx(sp.ks_2samp([1, 1, 1, 2], [1, 2]).statistic)


def test_pvalue_function() -> None:
    assert ks_pvalue(0.0, 10, 10) == 1.0
    assert ks_pvalue(0.5, 100, 100) < 1e-8
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ks_pvalue(1.5, 10, 10)
    with pytest.raises(ValueError, match="method"):
        ks_pvalue(0.1, 10, 10, method="magic")
    with pytest.raises(ValueError, match="method"):
        ks([1.0, 2.0], [1.0], method="magic")


def test_bad_views() -> None:
    with pytest.raises(ValueError, match="ascending"):
        ks_from_cdfs([2.0, 1.0], [1.0, 2.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        ks_from_cdfs([1.0, 2.0], [2.0, 1.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="equal length"):
        ks_from_cdfs([1.0, 2.0], [1.0], [1.0], [1.0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=2, max_size=30),
    st.lists(st.integers(-5, 5), min_size=1, max_size=30),
)
def test_statistic_matches_scipy_with_ties_and_is_symmetric(a: list[int], b: list[int]) -> None:
    fa, fb = np.sort(np.array(a, float)), np.sort(np.array(b, float))
    d = ks_statistic_from_sorted(fa, fb)
    assert d == pytest.approx(sp.ks_2samp(fa, fb, method="asymp").statistic, abs=1e-12)
    assert d == ks_statistic_from_sorted(fb, fa)
    assert 0.0 <= ks(a, b).pvalue <= 1.0
