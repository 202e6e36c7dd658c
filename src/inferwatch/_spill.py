"""Exact counts for the calls the buffer had no room for.

Under saturation (many request threads on few cores) the aggregator thread
loses the contest for the GIL and the bounded buffer fills. A record that
finds it full is not lost: its counts are folded in here, on the request
path, at a fixed small cost (a lock held for a few dictionary updates, never
across user code), and the aggregator adds them to the SLI aggregates at its
next drain. Calls, errors, predictions and the latency histograms therefore
stay exact whatever the load; only the record's detail (per-call attributes,
prediction values, features for drift, the log line) is dropped, and counted.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from typing import Any

from ._catalogue import METRICS
from ._histogram import LATENCY_BOUNDS_S, exp_index
from ._record import Endpoint, InferenceRecord

__all__ = ["Spill", "SpilledCalls"]


class SpilledCalls:
    """Counts and binned durations of spilled calls of one series."""

    __slots__ = ("bounds", "calls", "exp", "explicit", "max_ns", "min_ns", "rows", "sum_ns")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BOUNDS_S) -> None:
        #: Explicit bucket bounds in seconds the durations are binned against (the
        #: metric's catalogue bounds when the entry was made).
        self.bounds = bounds
        self.calls = 0
        self.rows = 0
        self.sum_ns = 0
        self.min_ns = math.inf
        self.max_ns = -math.inf
        #: Explicit latency-bucket index -> count (OTel's ``(lo, hi]`` buckets).
        self.explicit: dict[int, int] = {}
        #: Exponential bucket index of the duration in seconds -> count (zeros left out).
        self.exp: dict[int, int] = {}

    def add(self, duration_ns: int, rows: int) -> None:
        self.calls += 1
        self.rows += rows
        self.sum_ns += duration_ns
        if duration_ns < self.min_ns:
            self.min_ns = duration_ns
        if duration_ns > self.max_ns:
            self.max_ns = duration_ns
        index = bisect_left(self.bounds, duration_ns * 1e-9)
        self.explicit[index] = self.explicit.get(index, 0) + 1
        if duration_ns > 0:
            exp = exp_index(duration_ns * 1e-9)
            self.exp[exp] = self.exp.get(exp, 0) + 1


_PREDICT = "inferwatch.predict.duration"
_HTTP = "inferwatch.http.server.request.duration"
_RPC = "rpc.server.call.duration"


def _bounds(name: str) -> tuple[float, ...]:
    """The metric's explicit bounds as declared now (boundaries added there included)."""
    definition = METRICS.get(name)
    return definition.bounds if definition is not None and definition.bounds else (
        LATENCY_BOUNDS_S)


PredictKey = tuple[Endpoint, str, "str | None"]
TransportKey = tuple[Any, ...]


class Spill:
    """Spilled calls per predict series and per transport series, taken at each drain."""

    __slots__ = ("_lock", "predict", "transport")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.predict: dict[PredictKey, SpilledCalls] = {}
        self.transport: dict[TransportKey, SpilledCalls] = {}

    def add(self, record: InferenceRecord) -> None:
        """Fold one record's counts in (request path; never raises for a sane record)."""
        http = record.http
        with self._lock:
            if record.inference:
                key = (record.endpoint.series, record.outcome, record.error_type)
                entry = self.predict.get(key)
                if entry is None:
                    entry = self.predict[key] = SpilledCalls(_bounds(_PREDICT))
                entry.add(record.duration_ns, record.batch_size)
            if http is not None:
                error = (record.error_type or "_OTHER") if record.outcome == "error" else None
                tkey = (http.system, http.method, http.status_code, http.route, error,
                        http.scheme, http.protocol_version)
                tentry = self.transport.get(tkey)
                if tentry is None:
                    name = _RPC if http.system == "grpc" else _HTTP
                    tentry = self.transport[tkey] = SpilledCalls(_bounds(name))
                tentry.add(http.duration_ns, 1)

    def take(self) -> tuple[dict[PredictKey, SpilledCalls], dict[TransportKey, SpilledCalls]]:
        """Everything spilled since the last take, handed over and reset."""
        with self._lock:
            predict, self.predict = self.predict, {}
            transport, self.transport = self.transport, {}
        return predict, transport
