import numpy as np
import pytest
from scipy import stats as sp

from inferwatch.stats import wasserstein, wasserstein_from_cdfs


def test_matches_scipy_divided_by_reference_std() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, size=800), rng.gamma(2.5, size=500)
    res = wasserstein(a, b)
    assert res.distance == pytest.approx(sp.wasserstein_distance(a, b), rel=1e-10)
    assert res.statistic == pytest.approx(sp.wasserstein_distance(a, b) / np.std(a), rel=1e-10)
    assert res.normalized


@pytest.mark.parametrize("mu", [0.0, 0.25, 1.0, -2.0])
def test_normal_shift_is_mu(mu: float) -> None:
    rng = np.random.default_rng(1)
    res = wasserstein(rng.normal(size=20000), rng.normal(mu, size=20000))
    assert res.statistic == pytest.approx(abs(mu), abs=0.03)


def test_constant_reference_is_not_normalised() -> None:
    res = wasserstein([1.0, 1.0], [2.0, 2.0])
    assert not res.normalized and res.statistic == 1.0


def test_from_cdfs_equals_raw_with_unit_weights() -> None:
    rng = np.random.default_rng(2)
    a, b = np.sort(rng.normal(size=300)), np.sort(rng.normal(0.5, 2.0, size=200))
    res = wasserstein_from_cdfs(a, np.arange(1.0, 301), b, np.arange(1.0, 201))
    raw = wasserstein(a, b)
    assert res.distance == pytest.approx(raw.distance)
    assert res.statistic == pytest.approx(raw.statistic)
    weighted = wasserstein_from_cdfs([0.0, 1.0], [3.0, 4.0], [0.0, 1.0], [1.0, 2.0])
    assert weighted.distance == pytest.approx(sp.wasserstein_distance([0, 0, 0, 1], [0, 1]))
    with pytest.raises(ValueError, match="reference_std"):
        wasserstein_from_cdfs([0.0], [1.0], [0.0], [1.0], reference_std=-1.0)


def test_symmetric_distance() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=100), rng.normal(size=120)
    assert wasserstein(a, b).distance == pytest.approx(wasserstein(b, a).distance)
