"""Helpers for your own tests: capture records, log lines and metrics without a collector.

::

    from inferwatch.testing import capture

    def test_predict_is_monitored():
        with capture() as cap:
            predict(np.zeros((4, 20)))
        assert cap.records[0].batch_size == 4
        assert cap.value("inferwatch.predict.predictions") == 4
        assert cap.logs[0]["outcome"] == "ok"

``capture()`` builds a fresh ``Monitor`` with the options the process default
was configured with (``inferwatch.configure(...)``: PII fields, sampling,
thresholds), so a test sees what production does: the same pseudonyms, the
same sampling decisions, the same feature copies. Only the log sink (kept in
memory) and the exporter (none) differ. It is the process default for the
block and is shut down afterwards. Pass any ``configure`` option to override.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from . import _process
from ._catalogue import MetricPoint
from ._histogram import Histogram
from ._monitor import Monitor
from ._process import set_monitor
from ._record import InferenceRecord

__all__ = ["Capture", "MemorySink", "capture"]


class MemorySink:
    """A log sink keeping rendered events in a list."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def emit(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self.events.extend(events)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None

    def losses(self) -> dict[str, int]:
        return {}


class Capture:
    """What a monitor saw during a ``capture()`` block."""

    def __init__(self, monitor: Monitor, sink: MemorySink) -> None:
        self.monitor = monitor
        self._sink = sink
        self._records: list[InferenceRecord] = []
        # Observing records must not change which calls copy their features.
        monitor.add_feature_consumer(
            self._records.extend, copies_features=False, all_records=True)

    @property
    def records(self) -> list[InferenceRecord]:
        """Every finished record, in the order the aggregator received them: the
        requests that never reached a model too (their ``inference`` is False)."""
        self.monitor.flush(logs=False)
        return list(self._records)

    @property
    def inferences(self) -> list[InferenceRecord]:
        """The records that are model inferences: what drift sees."""
        return [record for record in self.records if record.inference]

    @property
    def logs(self) -> list[dict[str, Any]]:
        """Log events as rendered for the sink (after sampling and PII handling)."""
        self.monitor.flush()
        return list(self._sink.events)

    def metrics(self, name: str | None = None) -> list[MetricPoint]:
        """Metric points, all of them or those of one metric."""
        points = self.monitor.collect()
        return [p for p in points if name is None or p.name == name]

    def value(self, name: str, **attributes: Any) -> Any:
        """Sum of a counter's points matching ``attributes`` (dots as ``__``).

        For a histogram, the merged ``Histogram`` of the matching points;
        ``None`` when no point matches.
        """
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        matching = [
            p for p in self.metrics(name)
            if all(p.attributes.get(k) == v for k, v in wanted.items())
        ]
        if not matching:
            return None
        if isinstance(matching[0].value, Histogram):
            merged = matching[0].value.copy()
            for point in matching[1:]:
                merged.merge(point.value)  # both views: explicit and exponential buckets
            return merged
        return sum(p.value for p in matching)


@contextlib.contextmanager
def capture(**options: Any) -> Iterator[Capture]:
    """Monitor the block with a fresh, default-making Monitor; see module docs."""
    current = _process._default
    inherited = dict(current.options) if current is not None else {}
    environ = current.environ if current is not None else None
    processors = current.log_processors if current is not None else ()
    inherited.pop("log_sink", None)
    inherited["metrics_exporter"] = "none"
    inherited.update(options)
    sink = MemorySink()
    inherited.setdefault("log_processors", processors)
    monitor = Monitor(log_sink=sink, environ=environ, **inherited)
    previous = set_monitor(monitor)
    try:
        yield Capture(monitor, sink)
    finally:
        set_monitor(previous)
        monitor.shutdown()
