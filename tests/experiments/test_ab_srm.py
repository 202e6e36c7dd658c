"""Sample-ratio mismatch: the chi-square test against scipy, and what it catches."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp

from inferwatch.experiments import srm_test


@pytest.mark.parametrize(("counts", "weights"), [
    ([5000, 5000], [1, 1]), ([5100, 4900], [0.5, 0.5]), ([9050, 480, 470], [0.9, 0.05, 0.05]),
    ([1, 0], [1, 1]),
])
def test_matches_scipy(counts: list[int], weights: list[float]) -> None:
    total = sum(counts)
    expected = [total * w / sum(weights) for w in weights]
    stat, p = sp.chisquare(counts, f_exp=expected)
    result = srm_test(counts, weights)
    assert result.statistic == pytest.approx(stat)
    assert result.pvalue == pytest.approx(p, rel=1e-9)
    assert result.flagged == (p < 0.001)


def test_flags_a_real_mismatch_and_rarely_a_fair_split() -> None:
    rng = np.random.default_rng(13)
    fair = [srm_test([int(c), int(100_000 - c)], [1, 1]).flagged
            for c in rng.binomial(100_000, 0.5, 2000)]
    skewed = [srm_test([int(c), int(100_000 - c)], [1, 1]).flagged
              for c in rng.binomial(100_000, 0.51, 200)]
    assert np.mean(fair) < 0.005
    assert np.mean(skewed) > 0.95


def test_empty_and_bad_input() -> None:
    assert srm_test([0, 0], [1, 1]).pvalue == 1.0
    with pytest.raises(ValueError, match="one count and one weight"):
        srm_test([1, 2], [1])
    with pytest.raises(ValueError, match="weights > 0"):
        srm_test([1, 2], [1, 0])
