"""The normal distribution and the chi-square survival the experiments use, against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from inferwatch.experiments import norm_cdf, norm_ppf, norm_sf
from inferwatch.stats import chi2_sf

PROBS = np.concatenate([np.logspace(-300, -1, 80), np.linspace(0.01, 0.99, 99),
                        1 - np.logspace(-15, -2, 30)])


def test_quantile_matches_scipy_to_full_precision() -> None:
    for p in PROBS:
        ours, ref = norm_ppf(float(p)), float(sp.norm.ppf(p))
        assert ours == pytest.approx(ref, rel=1e-13, abs=1e-13), p


def test_quantile_inverts_the_cdf() -> None:
    for p in np.linspace(0.001, 0.999, 500):
        assert norm_cdf(norm_ppf(float(p))) == pytest.approx(float(p), rel=1e-13)


def test_cdf_and_survival_match_scipy() -> None:
    for x in np.linspace(-37, 37, 301):
        assert norm_cdf(float(x)) == pytest.approx(float(sp.norm.cdf(x)), rel=1e-12, abs=1e-300)
        assert norm_sf(float(x)) == pytest.approx(float(sp.norm.sf(x)), rel=1e-12, abs=1e-300)


def test_familiar_quantiles() -> None:
    assert norm_ppf(0.975) == pytest.approx(1.959963984540054, rel=1e-15)
    assert norm_ppf(0.8) == pytest.approx(0.8416212335729143, rel=1e-14)
    assert norm_ppf(0.5) == 0.0


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, math.nan])
def test_quantile_refuses_what_is_not_a_probability(p: float) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        norm_ppf(p)


@pytest.mark.parametrize("dof", [1, 2, 3, 5, 15])
def test_chi_square_survival_matches_scipy(dof: int) -> None:
    for x in [0.01, 0.5, 1.0, 3.84, 10.0, 30.0, 80.0, 200.0]:
        assert chi2_sf(x, dof) == pytest.approx(float(sp.chi2.sf(x, dof)), rel=1e-10,
                                                abs=1e-300)
