"""Anomaly scores of a monitor's models, driven interval by interval with a clock."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from inferwatch import Monitor, _forks
from inferwatch._record import InferenceRecord
from inferwatch.anomaly import SIGNAL, AnomalyWatch

T0 = 1_767_571_200.0  # Monday 00:00 UTC
HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 1.0

    def __call__(self) -> float:
        return self.now


def _calls(monitor: Monitor, n: int, *, model: str = "churn", errors: int = 0,
           prediction: float | None = 0.3) -> None:
    endpoint = monitor.endpoint(model, "1", {})
    for k in range(n):
        record = InferenceRecord(endpoint, 0, time.perf_counter_ns(), 0, None, 0, 0)
        record.duration_ns = 1_000_000
        if k < errors:
            record.outcome = "error"
            record.error_type = "RuntimeError"
        else:
            record.prediction = prediction
        monitor.submit(record)


def _hour(monitor: Monitor, clock: Clock, n: int, **kwargs: Any) -> None:
    """One interval of traffic, then the clock passes its end."""
    _calls(monitor, n, **kwargs)
    monitor.flush(logs=False)
    clock.now += HOUR
    monitor.flush(logs=False)


def _point(monitor: Monitor, name: str, signal: str, model: str = "churn") -> Any:
    found = [p.value for p in monitor.collect() if p.name == name
             and p.attributes == {"model.name": model, SIGNAL: signal}]
    return found[0] if found else None


@pytest.fixture
def warmed(make_monitor: Any) -> tuple[Monitor, Clock, AnomalyWatch, np.random.Generator]:
    monitor = make_monitor()
    clock = Clock()
    watch = AnomalyWatch(interval="1h", warmup="1d", clock=clock).attach(monitor)
    rng = np.random.default_rng(0)
    for _ in range(26):
        n = int(rng.poisson(400))
        _hour(monitor, clock, n, errors=int(rng.binomial(n, 0.01)),
              prediction=float(rng.normal(0.3, 0.003)))
    return monitor, clock, watch, rng


def test_no_scores_while_warming_up(make_monitor: Any) -> None:
    monitor = make_monitor()
    clock = Clock()
    AnomalyWatch(interval="1h", warmup="1d", clock=clock).attach(monitor)
    for _ in range(10):
        _hour(monitor, clock, 5000)  # wild traffic, but nothing learned yet
        _hour(monitor, clock, 1)
    assert _point(monitor, "inferwatch.anomaly.alarm", "volume") is None
    assert _point(monitor, "inferwatch.anomaly.score", "volume") is None
    assert monitor.summary()["anomalies"]["churn"]["volume"]["warming_up"] is True


def test_a_normal_hour_is_quiet(warmed: Any) -> None:
    monitor, clock, _watch, rng = warmed
    n = int(rng.poisson(400))
    _hour(monitor, clock, n, errors=int(rng.binomial(n, 0.01)), prediction=0.3)
    for signal in ("volume", "mean_prediction", "error_rate"):
        assert _point(monitor, "inferwatch.anomaly.alarm", signal) == 0, signal
        assert abs(_point(monitor, "inferwatch.anomaly.score", signal)) < 4, signal


def test_a_traffic_drop_alarms(warmed: Any) -> None:
    monitor, clock, _watch, _rng = warmed
    _hour(monitor, clock, 40)
    assert _point(monitor, "inferwatch.anomaly.alarm", "volume") == 1
    assert _point(monitor, "inferwatch.anomaly.score", "volume") < -4
    verdict = monitor.summary()["anomalies"]["churn"]["volume"]
    assert verdict["alarm"] is True and verdict["value"] == 40.0
    assert 350 < verdict["expected"] < 450


def test_an_error_burst_alarms_and_fewer_errors_do_not(warmed: Any) -> None:
    monitor, clock, _watch, _rng = warmed
    _hour(monitor, clock, 400, errors=0)
    assert _point(monitor, "inferwatch.anomaly.alarm", "error_rate") == 0
    _hour(monitor, clock, 400, errors=40)
    assert _point(monitor, "inferwatch.anomaly.alarm", "error_rate") == 1


def test_a_shifted_mean_prediction_alarms(warmed: Any) -> None:
    monitor, clock, _watch, _rng = warmed
    _hour(monitor, clock, 400, prediction=0.36)
    assert _point(monitor, "inferwatch.anomaly.alarm", "mean_prediction") == 1
    assert _point(monitor, "inferwatch.anomaly.alarm", "volume") == 0


def test_a_missed_interval_is_not_learned(warmed: Any) -> None:
    monitor, clock, watch, _rng = warmed
    baseline = watch._baselines[("churn", "volume")]
    level, daily = baseline.level, baseline.daily.copy()
    _calls(monitor, 3000)  # three hours' worth seen as one step
    clock.now += 3 * HOUR
    monitor.flush(logs=False)
    assert baseline.level == level
    np.testing.assert_array_equal(baseline.daily, daily)
    verdict = watch.scores()["churn"]["volume"]
    assert verdict.score is None and not verdict.alarm  # 3000 is not one hour's traffic


def test_after_fork_the_child_starts_its_intervals_afresh(warmed: Any) -> None:

    monitor, clock, watch, _rng = warmed
    baseline = watch._baselines[("churn", "volume")]
    _forks._after_fork_in_child()  # what os.fork runs in the child
    assert watch._boundary is None and watch._base == {}
    assert watch._baselines[("churn", "volume")] is baseline  # what was learned stays
    _hour(monitor, clock, 400)  # begun before the child looked: not scored
    assert watch.scores()["churn"]["volume"].score is None
    _hour(monitor, clock, 400)
    assert _point(monitor, "inferwatch.anomaly.alarm", "volume") == 0
    assert _point(monitor, "inferwatch.anomaly.score", "volume") is not None


def test_models_past_the_cap_are_counted(make_monitor: Any) -> None:
    monitor = make_monitor()
    clock = Clock()
    watch = AnomalyWatch(interval="1h", warmup="1d", clock=clock, max_models=2).attach(monitor)
    for model in ("a", "b", "c"):
        _calls(monitor, 5, model=model)
    monitor.flush(logs=False)
    clock.now += HOUR
    monitor.flush(logs=False)
    assert sorted(watch.scores()) == ["a", "b"]
    assert monitor.summary()["dropped"].get("anomaly_models_full", 0) >= 1


@pytest.mark.parametrize("kwargs, match", [
    ({"interval": "soon"}, "duration"),
    ({"interval": 0}, "interval"),
    ({"interval": "2h"}, "interval"),
    ({"warmup": "1h"}, "warmup"),
    ({"signals": ["latency"]}, "signals"),
    ({"signals": []}, "signals"),
    ({"max_models": 0}, "max_models"),
])
def test_bad_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AnomalyWatch(**kwargs)
