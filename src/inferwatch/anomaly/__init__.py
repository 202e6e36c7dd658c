"""Anomaly scores for signals with a rhythm: prediction volume, mean prediction
and error rate against a learned baseline, seasonal by hour of day and day of
week.

::

    import inferwatch.anomaly

    anomalies = inferwatch.anomaly.watch(interval="5m")   # the default monitor
    # exported: inferwatch.anomaly.score / inferwatch.anomaly.alarm
    #           {model.name, inferwatch.anomaly.signal}; summary()["anomalies"]

    # or on any series of your own:
    baseline = inferwatch.anomaly.SeasonalBaseline(interval=300, transform="log")
    verdict = baseline.update(t, calls)          # .score, .expected, .alarm

Building blocks, one job each: ``_baseline`` holds the learned model of one
signal (see its docstring for the model, the robustness rules and the
warm-up), ``_tails`` the exact tail scores of small counts, and ``_watch``
turns a monitor's aggregates into one value per interval and signal.
"""

from ._baseline import TRANSFORMS, AnomalyScore, SeasonalBaseline
from ._watch import SIGNAL, SIGNALS, AnomalyWatch, watch

__all__ = [
    "SIGNAL",
    "SIGNALS",
    "TRANSFORMS",
    "AnomalyScore",
    "AnomalyWatch",
    "SeasonalBaseline",
    "watch",
]
