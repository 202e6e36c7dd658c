"""CUPED: the variance it removes on correlated data, and where it stays off."""

from __future__ import annotations

import numpy as np
import pytest

from inferwatch.experiments import Moments, cuped


def _arm(rng: np.random.Generator, n: int, rho: float, effect: float) -> Moments:
    x = rng.normal(5, 2, n)
    y = effect + rho * (x - 5) / 2 + np.sqrt(1 - rho ** 2) * rng.normal(0, 1, n)
    return Moments.of(y, x)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
def test_variance_reduction_is_rho_squared(rho: float) -> None:
    rng = np.random.default_rng(int(rho * 100))
    result = cuped(_arm(rng, 20_000, rho, 0.0), _arm(rng, 20_000, rho, 0.1))
    assert result is not None
    assert result.reduction == pytest.approx(rho ** 2, abs=0.02)


def test_adjusted_effect_is_unbiased_and_less_variable() -> None:
    rng = np.random.default_rng(9)
    raw, adjusted = [], []
    for _ in range(300):
        c, t = _arm(rng, 400, 0.8, 0.0), _arm(rng, 400, 0.8, 0.2)
        result = cuped(c, t)
        assert result is not None
        raw.append(t.mean - c.mean)
        adjusted.append(result.delta)
    assert np.mean(adjusted) == pytest.approx(0.2, abs=0.01)
    # The observed spread shrinks as promised: sd ratio ~ sqrt(1 - 0.64) = 0.6.
    assert np.std(adjusted) / np.std(raw) == pytest.approx(0.6, abs=0.08)


def test_theta_is_the_pooled_regression_slope() -> None:
    rng = np.random.default_rng(4)
    xs = [rng.normal(0, 1, 300) for _ in range(2)]
    ys = [2.5 * x + rng.normal(0, 1, 300) + k for k, x in enumerate(xs)]
    result = cuped(Moments.of(ys[0], xs[0]), Moments.of(ys[1], xs[1]))
    assert result is not None
    centred = [(x - x.mean(), y - y.mean()) for x, y in zip(xs, ys, strict=True)]
    theta = sum((cx * cy).sum() for cx, cy in centred) / sum((cx * cx).sum() for cx, _ in centred)
    assert result.theta == pytest.approx(theta)


def test_off_without_a_usable_covariate() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=100)
    with_cov = Moments.of(y, rng.normal(size=100))
    assert cuped(Moments.of(y), with_cov) is None                      # no covariate
    assert cuped(Moments.of(y, np.ones(100)), Moments.of(y, np.ones(100))) is None  # constant
    assert cuped(Moments.of(y[:1], y[:1]), with_cov) is None            # one observation
