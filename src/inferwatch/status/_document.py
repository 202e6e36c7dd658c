"""The status document: ``Monitor.summary()`` plus what the status page draws.

It is a superset of ``Monitor.summary()`` (``models``, ``sampling``,
``dropped``, ``errors`` and every section added with ``Monitor.add_summary``,
such as ``slos`` and ``health``), with:

- ``generated_at`` (Unix seconds) and ``pid``;
- ``predictions``: per model version, mean prediction and confidence of
  every successful call since the process started (from the exported
  histograms' sums);
- ``drift``: per model version (and A/B variant), the drift status, the features worst first
  with their data-quality rates, the prediction histogram against the
  reference and the closed windows counted by status (see
  :mod:`inferwatch.status._drift`); ``None`` when no drift monitor is attached;
- ``labels``: ``None`` until a label tracker runs (``inferwatch.labels.track``),
  then ``{"trackers": [...]}``, each with its task, store, labels received by
  source and result, quality per model version, variant and source over each
  window, and outcomes (see :meth:`inferwatch.labels.LabelTracker.summary`);
- ``infrastructure``: CPU, memory and GPUs of this process.

Everything in it is an aggregate, a name from the configuration or a
pseudonym: never a feature value, a category value or a request field.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from .._monitor import Monitor, attached_drift_monitors
from ._drift import drift_section
from ._infra import ProcessSampler


def _mean(total: float, count: int) -> float | None:
    if not count:
        return None
    value = total / count
    return value if math.isfinite(value) else None


def predictions_section(monitor: Monitor) -> dict[str, dict[str, Any]]:
    """Mean prediction and confidence per model version, from the live aggregates."""
    sums: dict[str, dict[str, list[float]]] = {}
    with monitor.aggregation_lock:
        aggregates = monitor.snapshot()
        for (metric, key), hist in aggregates.histograms.items():
            if metric not in ("value", "confidence"):
                continue
            endpoint = key[0]
            name = f"{endpoint.model_name}:{endpoint.model_version}"
            acc = sums.setdefault(name, {}).setdefault(metric, [0.0, 0.0])
            acc[0] += float(hist.sum)
            acc[1] += int(hist.count)
    out: dict[str, dict[str, Any]] = {}
    for name, metrics in sorted(sums.items()):
        value = metrics.get("value", [0.0, 0])
        conf = metrics.get("confidence", [0.0, 0])
        out[name] = {
            "mean_prediction": _mean(value[0], int(value[1])),
            "predictions": int(value[1]),
            "mean_confidence": _mean(conf[0], int(conf[1])),
            "confidences": int(conf[1]),
        }
    return out


def build_status(
    monitor: Monitor | None = None,
    *,
    drift: Iterable[Any] | None = None,
    sampler: ProcessSampler | None = None,
) -> dict[str, Any]:
    """The status document of ``monitor`` (default: the process default), JSON-ready.

    ``drift`` is the drift monitors to report on; by default every
    :class:`inferwatch.drift.DriftMonitor` fed by ``monitor``. ``sampler``
    keeps CPU readings between calls (a status app holds one).

    ::

        doc = inferwatch.status.build_status()
        doc["models"]["churn:4"]["error_rate"]
    """
    if monitor is None:
        from .._process import get_monitor

        monitor = get_monitor()
    doc: dict[str, Any] = monitor.summary()
    doc["generated_at"] = time.time()
    try:
        doc["predictions"] = predictions_section(monitor)
    except Exception:
        monitor.count_error("status")
        doc["predictions"] = {}
    monitors = list(attached_drift_monitors(monitor) if drift is None else drift)
    try:
        doc["drift"] = drift_section(monitors) if monitors else None
    except Exception:
        monitor.count_error("status")
        doc["drift"] = None
    doc.setdefault("labels", None)
    doc["infrastructure"] = (sampler or ProcessSampler()).read()
    doc["pid"] = doc["infrastructure"]["pid"]
    return doc
