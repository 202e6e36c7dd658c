"""Windows by count and by time, warm-up, comparison with the previous window."""

from __future__ import annotations

import numpy as np
import pytest
from driftdata import make_rows

import inferwatch.drift as drift
from inferwatch import Monitor
from inferwatch._capture import new_record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _records(rows: list[dict[str, object]], model: str = "m") -> list:
    mon = Monitor(metrics_exporter="none", enabled=False)
    endpoint = mon.endpoint(model, "1", {})
    out = []
    for row in rows:
        r = new_record(endpoint)
        r.features = row
        r.prediction = 0.5
        out.append(r)
    mon.shutdown()
    return out


def test_count_windows_split_batches_at_the_boundary(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, window="count:1000")
    dm.ingest(_records(make_rows(2500, seed=3)))
    report = dm.report()
    assert report.window is not None
    assert (report.window.index, report.window.rows, report.window.complete) == (1, 1000, True)
    open_window = dm.report(window="open").window
    assert open_window is not None and open_window.rows == 500


def test_time_windows_with_an_injected_clock(profile: drift.ReferenceProfile) -> None:
    clock = Clock()
    dm = drift.DriftMonitor(profile, window="time:60", clock=clock, compare_previous=True)
    dm.ingest(_records(make_rows(500, seed=4)))
    clock.now += 61
    dm.ingest(_records(make_rows(500, seed=5, shift={"x0": 2.0})))
    clock.now += 60
    report = dm.report()
    assert report.window is not None and report.window.index == 1
    x0 = report.features["x0"]
    assert x0.status == "drift"
    assert x0.previous is not None and x0.previous.status == "drift"
    assert report.features["x1"].previous is not None
    clock.now += 3600  # idle: the gap becomes one empty window
    idle = dm.report()
    assert idle.window is not None and idle.window.rows == 0
    assert idle.features["x0"].status == "no_data"


def test_warmup_freezes_the_reference_from_live_rows() -> None:
    dm = drift.DriftMonitor(window="count:1000", warmup_rows=2000)
    dm.ingest(_records(make_rows(1500, seed=1)))
    warming = dm.report()
    assert warming.warming_up and warming.warmup_rows == 1500 and dm.profile is None
    dm.ingest(_records(make_rows(600, seed=2)))
    assert dm.profile is not None and dm.profile.n_rows == 2100
    assert set(dm.profile.features) == {"x0", "x1", "x2", "x3", "color"}
    assert "prediction" in dm.profile.outputs
    dm.ingest(_records(make_rows(1000, seed=3, shift={"x3": 1.5})))
    report = dm.report()
    assert report.features["x3"].status == "drift"
    assert report.features["x3"].decided_by == "ks+psi"


def test_other_models_are_ignored(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, model="m")
    dm.ingest(_records(make_rows(100, seed=1), model="other"))
    window = dm.report(window="open").window
    assert window is not None and window.rows == 0


@pytest.mark.parametrize("spec", ["count:0", "count:x", "time:-1", "hourly", -5, True,
                                  "time:", "x:3", "5d", "time:inf"])
def test_bad_window_specs(spec: object) -> None:
    with pytest.raises(ValueError, match="window"):
        drift.DriftMonitor(window=spec)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["2000", " 2000 ", 2000, 2000.0])
def test_a_bare_number_is_refused_with_both_forms(spec: object) -> None:
    # Rows or seconds? "2000" used to be read as 2,000 seconds without a word.
    with pytest.raises(ValueError, match="no unit") as err:
        drift.DriftMonitor(window=spec)  # type: ignore[arg-type]
    assert "'count:2000'" in str(err.value) and "'time:2000'" in str(err.value)


@pytest.mark.parametrize(("spec", "described"), [
    ("count:2000", "count:2000"), ("time:300", "time:300"), ("300s", "time:300"),
    ("5m", "time:300"), ("1h", "time:3600"), ("time:5m", "time:300"), ("COUNT: 7", "count:7"),
])
def test_window_forms(spec: str, described: str) -> None:
    from inferwatch.drift._windows import parse_window

    assert parse_window(spec).describe() == described


def test_memory_is_bounded_by_features(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, window="count:5000")
    rng = np.random.default_rng(0)
    sizes = []
    for i in range(8):
        dm.ingest(_records(make_rows(5000, seed=int(rng.integers(1 << 30)) + i)))
        sizes.append(dm.nbytes)
    assert max(sizes[3:]) <= 1.2 * min(sizes[3:])
    assert max(sizes) / 4 / 2 < 64 * 1024  # per numeric feature, two windows
