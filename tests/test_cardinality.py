"""Values made up by callers cannot grow series or memory past the documented caps.

Each test sends thousands of distinct values through one way in (model
versions, variants, per-call attributes, exception classes, categories),
then checks the number of metric series against the cap, that the overflow
was counted, and that memory grew by a bounded amount between a first and a
second wave of equally many new values (so it does not grow with traffic).
"""

from __future__ import annotations

import contextlib
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

import inferwatch


def _series(mon: inferwatch.Monitor) -> int:
    return len({(p.name, tuple(sorted(p.attributes.items()))) for p in mon.collect()})


def _growth(wave: Callable[[int], None], n: int) -> tuple[int, int]:
    """Bytes still allocated after a first and after a second wave of ``n`` new values."""
    tracemalloc.start()
    try:
        wave(n)
        first = tracemalloc.get_traced_memory()[0]
        wave(n)
        second = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return first, second


def test_versions_and_variants_from_requests_are_capped(make_monitor: Any) -> None:
    mon = make_monitor(max_endpoints=50, max_attribute_values=20, log_sink="none")

    def wave(n: int) -> None:
        for _ in range(n):
            tag = uuid.uuid4().hex

            @inferwatch.monitor(model="m", version=tag, attributes={"variant": tag},
                                monitor=mon)
            def predict(x: float, tag: str = tag) -> float:
                inferwatch.set_attribute("segment", tag)
                return x

            predict(1.0)
        mon.flush()
        mon.collect()

    first, second = _growth(wave, 2000)
    assert mon.summary()["dropped"]["endpoints_overflow"] >= 3900
    assert _series(mon) < 50 * 12  # each series has a handful of metrics
    calls = sum(p.value for p in mon.collect() if p.name == "inferwatch.predict.calls")
    assert calls == 4000  # every call counted, overflow under model '_other'
    assert second - first < 2 * 1024 * 1024, (first, second)


def test_per_call_attributes_and_error_types_are_capped(make_monitor: Any) -> None:
    mon = make_monitor(max_attribute_values=10, log_sink="none")

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(tag: str, error: type[Exception] | None) -> float:
        inferwatch.set_attributes(tenant=tag, note=f"free text {tag}")
        if error is not None:
            raise error(tag)
        return 0.5

    def wave(n: int) -> None:
        for i in range(n):
            tag = uuid.uuid4().hex
            error = type(f"E{tag}", (Exception,), {}) if i % 2 else None
            with contextlib.suppress(Exception):
                predict(tag, error)
        mon.flush()
        mon.collect()

    first, second = _growth(wave, 3000)
    points = [p for p in mon.collect() if p.name == "inferwatch.predict.calls"]
    assert len({p.attributes.get("tenant") for p in points}) <= 11
    # 10 kept, '_OTHER' past the cap, and none for the calls that succeeded.
    assert len({p.attributes.get("error.type") for p in points}) <= 12
    assert sum(p.value for p in points) == 6000
    assert mon.summary()["dropped"]["attribute_overflow"] > 0
    assert second - first < 2 * 1024 * 1024, (first, second)


def test_categories_from_requests_are_capped_in_drift(make_monitor: Any) -> None:
    import inferwatch.drift

    rng = np.random.default_rng(0)
    reference = [{"country": c, "amount": float(a)}
                 for c, a in zip(rng.choice(["NO", "SE", "DK"], 2000), rng.normal(size=2000),
                                 strict=True)]
    profile = inferwatch.drift.build_profile(reference, categorical=["country"])
    mon = make_monitor(log_sink="none")
    drift = inferwatch.drift.watch(profile, monitor=mon, window="count:1000")

    @inferwatch.monitor(model="m", monitor=mon, features="row")
    def predict(row: dict[str, Any]) -> float:
        return 0.5

    def wave(n: int) -> None:
        for _ in range(n):
            predict({"country": uuid.uuid4().hex, "amount": 0.1})
        mon.flush()
        drift.report()
        mon.collect()

    first, second = _growth(wave, 5000)
    report = drift.report()
    assert report is not None
    series = _series(mon)
    assert series < 400, series
    assert second - first < 4 * 1024 * 1024, (first, second)
