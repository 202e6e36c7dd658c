"""The always-valid test: coverage of the confidence sequence, peeking, duality."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inferwatch.experiments import (
    Moments,
    compare,
    log_likelihood_ratio,
    mixture_interval,
    mixture_pvalue,
    norm_ppf,
)

ALPHA = 0.05


def _peeked(rng: np.random.Generator, sims: int, batch: int, peeks: int,
            effect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """delta and its variance at every peek of ``sims`` experiments (normal, sd 1)."""
    n = np.arange(1, peeks + 1) * batch
    out = []
    for mu in (0.0, effect):
        y = rng.normal(mu, 1.0, (sims, batch * peeks))
        s1 = np.cumsum(y, axis=1)[:, batch - 1::batch]
        s2 = np.cumsum(y * y, axis=1)[:, batch - 1::batch]
        out.append((s1 / n, (s2 - s1 * s1 / n) / (n - 1)))
    (mc, vc), (mt, vt) = out
    return mt - mc, (vc + vt) / n, n


def test_confidence_sequence_covers_at_every_peek_at_once() -> None:
    rng = np.random.default_rng(2024)
    sims, effect = 600, 0.15
    delta, var, _ = _peeked(rng, sims, 100, 50, effect)
    low, high = mixture_interval(delta, var, 0.01, ALPHA)
    ever_missed = ((low > effect) | (high < effect)).any(axis=1).mean()
    # Guaranteed <= alpha; 3 standard errors of slack for the simulation.
    assert ever_missed <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)
    # ...while a fixed-horizon interval read at every peek misses far more often.
    z = norm_ppf(1 - ALPHA / 2)
    naive = ((delta - z * np.sqrt(var) > effect) | (delta + z * np.sqrt(var) < effect))
    assert naive.any(axis=1).mean() > 2 * ALPHA


def test_peeking_under_the_null_keeps_false_positives_below_alpha() -> None:
    rng = np.random.default_rng(7)
    sims = 600
    delta, var, _ = _peeked(rng, sims, 100, 50, 0.0)
    rejected = (mixture_pvalue(delta, var, 0.01) < ALPHA).any(axis=1).mean()
    assert rejected <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / sims)


def test_power_against_a_real_effect() -> None:
    rng = np.random.default_rng(8)
    delta, var, _ = _peeked(rng, 200, 200, 40, 0.1)  # 8,000 per arm, ~5x the fixed n
    assert (mixture_pvalue(delta, var, 0.01) < ALPHA).any(axis=1).mean() > 0.9


def test_pvalue_and_interval_are_dual() -> None:
    rng = np.random.default_rng(3)
    delta = rng.normal(0, 0.05, 2000)
    var = rng.uniform(1e-4, 1e-2, 2000)
    tau2 = rng.uniform(1e-4, 1e-1, 2000)
    p = mixture_pvalue(delta, var, tau2)
    low, high = mixture_interval(delta, var, tau2, ALPHA)
    outside = (low > 0) | (high < 0)
    borderline = np.abs(p - ALPHA) < 1e-9
    assert np.array_equal((p < ALPHA)[~borderline], outside[~borderline])


def test_closed_form_against_the_mixture_integral() -> None:
    # LR = integral of N(delta; theta, V) N(theta; 0, tau2) dtheta / N(delta; 0, V).
    delta, v, tau2 = 0.07, 4e-4, 0.0025
    theta = np.linspace(-0.5, 0.5, 400_001)
    step = theta[1] - theta[0]
    density = (np.exp(-(delta - theta) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v)
               * np.exp(-theta ** 2 / (2 * tau2)) / math.sqrt(2 * math.pi * tau2))
    numeric = density.sum() * step / (math.exp(-delta ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v))
    assert float(log_likelihood_ratio(delta, v, tau2)) == pytest.approx(math.log(numeric),
                                                                         rel=1e-6)


def test_no_variance_means_no_evidence() -> None:
    assert float(mixture_pvalue(0.3, 0.0, 0.01)) == 1.0
    low, high = mixture_interval(0.3, 0.0, 0.01, ALPHA)
    assert float(low) == -math.inf and float(high) == math.inf


def test_compare_waits_for_min_samples_and_reports_relative_effect() -> None:
    rng = np.random.default_rng(11)
    c, t = Moments.of(rng.normal(10, 1, 50)), Moments.of(rng.normal(11, 1, 50))
    early = compare(c, t, alpha=ALPHA, tau2=0.25, min_samples=100)
    assert early.pvalue == 1.0 and early.ci == (-math.inf, math.inf)
    late = compare(c, t, alpha=ALPHA, tau2=0.25, min_samples=20)
    assert late.significant and late.ci[0] > 0
    assert late.relative == pytest.approx(late.delta / c.mean)
