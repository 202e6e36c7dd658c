import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sp

from inferwatch.stats import (
    chi2_sf,
    chi_square,
    chi_square_from_counts,
    g_test,
    g_test_from_counts,
    gammaincc,
)


def _sample(counts: dict[str, int]) -> list[str]:
    return [k for k, v in counts.items() for _ in range(v)]


REF = _sample({"a": 120, "b": 80, "c": 50, "d": 30})
CUR = _sample({"a": 100, "b": 110, "c": 40, "d": 20})


def test_chi_square_matches_scipy() -> None:
    res = chi_square(REF, CUR)
    table = np.array([[120, 80, 50, 30], [100, 110, 40, 20]])
    stat, p, dof, _ = sp.chi2_contingency(table, correction=False)
    assert res.statistic == pytest.approx(stat) and res.pvalue == pytest.approx(p)
    assert res.dof == dof == 3 and res.n_pooled == 0
    assert res.categories == ("a", "b", "c", "d")


def test_g_test_matches_scipy() -> None:
    res = g_test(REF, CUR)
    table = np.array([[120, 80, 50, 30], [100, 110, 40, 20]])
    stat, p, _, _ = sp.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert res.statistic == pytest.approx(stat) and res.pvalue == pytest.approx(p)


def test_rare_categories_are_pooled() -> None:
    ref = _sample({"a": 100, "b": 100, "r1": 3, "r2": 2, "r3": 1})
    cur = _sample({"a": 90, "b": 110, "r1": 2, "r4": 3})
    res = chi_square(ref, cur)
    assert res.categories == ("a", "b", "<other>")
    assert res.n_pooled == 4
    expected = res.table.sum(axis=1)[:, None] * res.table.sum(axis=0) / res.table.sum()
    assert expected.min() >= 5
    stat, p, _, _ = sp.chi2_contingency(np.array([[100, 100, 6], [90, 110, 5]]), correction=False)
    assert res.statistic == pytest.approx(stat) and res.pvalue == pytest.approx(p)


def test_nothing_left_to_test() -> None:
    res = chi_square(["a"] * 10, ["a"] * 10)
    assert res.dof == 0 and res.pvalue == 1.0 and res.statistic == 0.0


def test_from_counts_and_bad_counts() -> None:
    assert chi_square_from_counts([120, 80, 50, 30], [100, 110, 40, 20]).statistic == (
        pytest.approx(chi_square(REF, CUR).statistic)
    )
    assert g_test_from_counts([120, 80], [100, 110]).dof == 1
    with pytest.raises(ValueError, match="negative"):
        chi_square_from_counts([1, -2], [1, 2])
    with pytest.raises(ValueError, match="min_expected"):
        chi_square(REF, CUR, min_expected=-1)


def test_missing_values_dropped() -> None:
    res = chi_square([*REF, None, float("nan")], CUR)
    assert res.n_dropped == 2
    with pytest.raises(ValueError, match="no categories"):
        chi_square([None, None], CUR)
    with pytest.raises(TypeError, match="single string"):
        chi_square("abc", CUR)


@pytest.mark.parametrize("dof", [1, 2, 3, 7.5, 30, 200])
@pytest.mark.parametrize("x", [0.0, 1e-6, 0.3, 1.0, 5.0, 25.0, 100.0, 400.0])
def test_chi2_sf_matches_scipy(x: float, dof: float) -> None:
    assert chi2_sf(x, dof) == pytest.approx(sp.chi2.sf(x, dof), rel=1e-9, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 500.0), st.floats(0.0, 1000.0))
def test_gammaincc_matches_scipy(a: float, x: float) -> None:
    from scipy import special

    assert gammaincc(a, x) == pytest.approx(special.gammaincc(a, x), rel=1e-8, abs=1e-14)


def test_gamma_bad_args() -> None:
    with pytest.raises(ValueError, match="a must be"):
        gammaincc(0.0, 1.0)
    with pytest.raises(ValueError, match="x must be"):
        gammaincc(1.0, -1.0)
    with pytest.raises(ValueError, match="degrees of freedom"):
        chi2_sf(1.0, 0)
