"""The fixed-horizon sample size, against scipy's quantiles and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from inferwatch import ConfigurationError
from inferwatch.experiments import sample_size


def test_mean_matches_the_textbook_formula() -> None:
    for mde, sd, alpha, power in [(0.5, 4.0, 0.05, 0.8), (0.1, 1.0, 0.01, 0.9),
                                  (2.0, 10.0, 0.1, 0.8)]:
        z = sp.norm.ppf(1 - alpha / 2) + sp.norm.ppf(power)
        expected = math.ceil(z ** 2 * 2 * sd ** 2 / mde ** 2)
        got = sample_size(mde, sd=sd, alpha=alpha, power=power)
        assert got.control == got.treatment == expected
        assert got.total == 2 * expected


def test_proportion_and_unequal_split() -> None:
    z = sp.norm.ppf(0.975) + sp.norm.ppf(0.8)
    got = sample_size(0.01, baseline=0.10, ratio=3.0)
    expected = math.ceil(z ** 2 * (0.09 + 0.11 * 0.89 / 3.0) / 0.01 ** 2)
    assert got.control == expected and got.treatment == math.ceil(expected * 3.0)


def test_the_power_it_promises() -> None:
    rng = np.random.default_rng(21)
    n = sample_size(0.2, sd=1.0).control
    z = sp.norm.ppf(0.975)
    c = rng.normal(0, 1, (2000, n)).mean(axis=1)
    t = rng.normal(0.2, 1, (2000, n)).mean(axis=1)
    power = (np.abs(t - c) / math.sqrt(2 / n) > z).mean()
    assert power == pytest.approx(0.8, abs=0.03)


def test_bad_input_is_explained() -> None:
    with pytest.raises(ConfigurationError, match="exactly one of sd"):
        sample_size(0.1)
    with pytest.raises(ConfigurationError, match="exactly one of sd"):
        sample_size(0.1, sd=1.0, baseline=0.5)
    with pytest.raises(ConfigurationError, match="mde must be a positive"):
        sample_size(0.0, sd=1.0)
    with pytest.raises(ConfigurationError, match="alpha must lie strictly"):
        sample_size(0.1, sd=1.0, alpha=1.0)
    with pytest.raises(ConfigurationError, match="power must lie strictly"):
        sample_size(0.1, sd=1.0, power=0.0)
    with pytest.raises(ConfigurationError, match="baseline must be a rate"):
        sample_size(0.1, baseline=1.2)
