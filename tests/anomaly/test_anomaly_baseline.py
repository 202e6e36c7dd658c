"""The learned seasonal baseline: warm-up, seasonality, robustness, bounded memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inferwatch.anomaly import SeasonalBaseline

T0 = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
DAY = 86400.0
STEP = 600.0  # ten minutes


def _truth(t: float, *, weekend: float = 30.0) -> float:
    """A signal with a daily shape (peak 15:00, 170; 03:00, 30) and lower weekends."""
    hour = ((t - T0) % DAY) / 3600.0
    day = int((t - T0) // DAY) % 7
    return (100.0 * (1.0 + 0.7 * math.cos(2 * math.pi * (hour - 15.0) / 24.0))
            - (weekend if day >= 5 else 0.0))


def _feed(baseline: SeasonalBaseline, start: float, days: float, rng: np.random.Generator,
          *, noise: float = 2.0) -> float:
    t = start
    while t < start + days * DAY:
        baseline.update(t, _truth(t) + rng.normal(0, noise))
        t += STEP
    return t


def test_no_score_and_no_alarm_while_warming_up() -> None:
    baseline = SeasonalBaseline(STEP, warmup=2 * DAY)
    rng = np.random.default_rng(1)
    t = T0
    for k in range(int(2 * DAY / STEP)):
        value = 1e9 if k % 50 == 0 else _truth(t) + rng.normal(0, 2)
        verdict = baseline.update(t, value)
        assert verdict.warming_up and verdict.score is None and not verdict.alarm
        t += STEP
    assert baseline.update(t, _truth(t)).warming_up  # the value that completes the warm-up
    assert baseline.update(t + STEP, _truth(t + STEP)).warming_up is False


def test_the_hour_decides_what_is_anomalous() -> None:
    # 30 at 03:00 is normal; 30 at the 15:00 peak (expected ~170) is an anomaly,
    # and so is 170 at night: a static threshold cannot tell these apart.
    baseline = SeasonalBaseline(STEP)
    rng = np.random.default_rng(2)
    t = _feed(baseline, T0, 9, rng)  # Wednesday of week 2, 00:00
    night, peak = t + 3 * 3600, t + 15 * 3600
    assert abs(baseline.expected(night) - _truth(night)) < 3
    assert abs(baseline.expected(peak) - _truth(peak)) < 5
    assert not baseline.update(night, _truth(night)).alarm
    assert baseline.update(night + STEP, _truth(peak)).alarm
    assert baseline.update(peak, _truth(night)).alarm


def test_weekends_are_learned() -> None:
    baseline = SeasonalBaseline(STEP)
    rng = np.random.default_rng(3)
    _feed(baseline, T0, 14, rng)
    saturday_peak = T0 + 19 * DAY + 15 * 3600
    monday_peak = T0 + 14 * DAY + 15 * 3600
    assert abs(baseline.expected(saturday_peak) - _truth(saturday_peak)) < 6
    assert abs(baseline.expected(monday_peak) - _truth(monday_peak)) < 6


def test_outliers_in_warm_up_do_not_distort_the_baseline() -> None:
    clean, dirty = SeasonalBaseline(STEP), SeasonalBaseline(STEP)
    rng = np.random.default_rng(4)
    t = T0
    while t < T0 + 8 * DAY:
        noise = rng.normal(0, 2)
        clean.update(t, _truth(t) + noise)
        spiky = rng.random() < 0.03
        dirty.update(t, (_truth(t) * 20) if spiky else _truth(t) + noise)
        t += STEP
    for hour in range(24):
        at = t + hour * 3600
        assert abs(dirty.expected(at) - clean.expected(at)) < 4, hour


def test_an_anomaly_does_not_poison_the_slots() -> None:
    # Six hours of a broken signal (10x) on Tuesday afternoon; a week later the
    # expected Tuesday afternoon is what it would have been without them.
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    plain, hit = SeasonalBaseline(STEP), SeasonalBaseline(STEP)
    t = T0
    broken = (T0 + 8 * DAY + 12 * 3600, T0 + 8 * DAY + 18 * 3600)
    alarms = 0
    while t < T0 + 14 * DAY:
        noise_a, noise_b = rng_a.normal(0, 2), rng_b.normal(0, 2)
        plain.update(t, _truth(t) + noise_a)
        value = _truth(t) * 10 if broken[0] <= t < broken[1] else _truth(t) + noise_b
        alarms += hit.update(t, value).alarm
        t += STEP
    assert alarms >= 30  # the broken hours alarm throughout
    tuesday = T0 + 15 * DAY + 15 * 3600
    assert abs(hit.expected(tuesday) - plain.expected(tuesday)) < 0.05 * plain.expected(tuesday)
    np.testing.assert_allclose(hit.daily, plain.daily, atol=0.5)


def test_missing_and_bad_intervals_change_nothing() -> None:
    rng_a, rng_b = np.random.default_rng(6), np.random.default_rng(6)
    a, b = SeasonalBaseline(STEP), SeasonalBaseline(STEP)
    t = T0
    while t < T0 + 9 * DAY:
        value = _truth(t) + rng_a.normal(0, 2)
        assert rng_b.normal(0, 2) is not None
        a.update(t, value)
        b.update(t, value)
        if t > T0 + 8 * DAY:
            for junk in (None, float("nan"), float("inf"), "junk"):
                verdict = b.update(t + 1, junk)  # type: ignore[arg-type]
                assert verdict.score is None and not verdict.alarm
            b.update(t + 2, value + 5.0, valid=False)
            b.update(t + 2, 1e6, valid=False)
            b.update(t + 3, 50.0, count=0)  # a mean of no calls
        t += STEP
    assert a.level == b.level
    np.testing.assert_array_equal(a.daily, b.daily)
    np.testing.assert_array_equal(a.scale, b.scale)
    np.testing.assert_array_equal(a.weekly_hour, b.weekly_hour)


@pytest.mark.parametrize("transform", ["none", "log"])
def test_a_lasting_level_shift_is_absorbed(transform: str) -> None:
    # +40 on the additive model; traffic up by half (Poisson counts) on the log one.
    baseline = SeasonalBaseline(STEP, transform=transform)
    rng = np.random.default_rng(7)

    def value(t: float, shifted: bool) -> float:
        if transform == "log":
            return float(rng.poisson(_truth(t, weekend=0.0) * (1.5 if shifted else 1.0)))
        return _truth(t) + (40.0 if shifted else 0.0) + rng.normal(0, 2)

    t = T0
    while t < T0 + 9 * DAY:
        baseline.update(t, value(t, False))
        t += STEP
    alarms_by_hour: list[int] = []
    for _hour in range(48):
        n = 0
        for _ in range(6):
            n += baseline.update(t, value(t, True)).alarm
            t += STEP
        alarms_by_hour.append(n)
    assert sum(alarms_by_hour[:2]) >= 6  # seen at once
    assert sum(alarms_by_hour[24:]) <= 2  # and the new normal a day later


def test_a_small_change_that_lasts_is_caught_by_the_sustained_score() -> None:
    baseline = SeasonalBaseline(STEP)
    rng = np.random.default_rng(8)
    t = _feed(baseline, T0, 9, rng, noise=4.0)
    points = []
    alarmed = False
    for _ in range(18):  # three hours at +2.5 sigma: no single interval is past 4
        verdict = baseline.update(t, _truth(t) + 10.0 + rng.normal(0, 4.0))
        points.append(verdict)
        alarmed |= verdict.alarm
        t += STEP
    assert alarmed


def test_direction_up_ignores_drops() -> None:
    both, up = SeasonalBaseline(STEP), SeasonalBaseline(STEP, direction="up")
    rng = np.random.default_rng(9)
    t = T0
    while t < T0 + 8 * DAY:
        value = _truth(t) + rng.normal(0, 2)
        both.update(t, value)
        up.update(t, value)
        t += STEP
    assert both.update(t, 0.0).alarm
    low = up.update(t, 0.0)
    assert low.score is not None and low.score < -4 and not low.alarm
    assert up.update(t + STEP, 1000.0).alarm


def test_count_scales_the_expected_spread() -> None:
    # An error rate of 3 % against 1 %: noise over 20 calls, an incident over 20 000.
    def fed() -> SeasonalBaseline:
        baseline = SeasonalBaseline(STEP, transform="arcsine", direction="up")
        rng = np.random.default_rng(10)
        t = T0
        while t < T0 + 8 * DAY:
            n = int(rng.integers(50, 500))
            baseline.update(t, rng.binomial(n, 0.01) / n, count=n)
            t += STEP
        return baseline

    t = T0 + 8 * DAY + 600
    assert not fed().update(t, 0.03, count=20).alarm
    assert fed().update(t, 0.03, count=20_000).alarm


def test_log_transform_reports_expected_on_the_original_scale() -> None:
    # Traffic whose weekends are 0.6 of a weekday at every hour (multiplicative).
    def traffic(t: float) -> float:
        day = int((t - T0) // DAY) % 7
        return _truth(t, weekend=0.0) * (0.6 if day >= 5 else 1.0)

    baseline = SeasonalBaseline(STEP, transform="log")
    rng = np.random.default_rng(11)
    t = T0
    while t < T0 + 8 * DAY:
        baseline.update(t, float(rng.poisson(traffic(t))))
        t += STEP
    for at in (t + 15 * 3600, t + 3 * 3600, T0 + 12 * DAY + 15 * 3600):  # Tue; Sat peak
        assert abs(baseline.expected(at) - traffic(at)) < 0.1 * traffic(at), at


def test_memory_is_bounded() -> None:
    # Warm-up keeps one value per interval at most, even when values come faster.
    fast = SeasonalBaseline(STEP, warmup=DAY)
    empty = fast.nbytes
    for k in range(5000):
        fast.update(T0 + k * 10.0, 1.0)
    assert fast.warming_up
    assert fast.nbytes <= empty + 24 * (int(DAY / STEP) + 1)
    # After it: fixed, whatever the time and traffic.
    baseline = SeasonalBaseline(STEP, warmup=DAY)
    rng = np.random.default_rng(12)
    t = _feed(baseline, T0, 2, rng)
    settled = baseline.nbytes
    _feed(baseline, t, 14, rng)
    assert baseline.nbytes == settled == empty < 4096


@pytest.mark.parametrize("kwargs, match", [
    ({"interval": 0}, "interval"),
    ({"interval": 7200}, "interval"),
    ({"threshold": 0}, "threshold"),
    ({"warmup": 3600}, "warmup"),
    ({"transform": "sqrt"}, "transform"),
    ({"min_scale": -1}, "min_scale"),
    ({"clip": 0}, "clip"),
    ({"direction": "sideways"}, "direction"),
    ({"level_halflife": 1}, "level_halflife"),
])
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    options = {"interval": STEP, **kwargs}
    with pytest.raises(ValueError, match=match):
        SeasonalBaseline(**options)  # type: ignore[arg-type]
