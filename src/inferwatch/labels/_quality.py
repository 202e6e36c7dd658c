"""The quality of one window of joined pairs, measure by measure.

Binary tasks (``positive=`` given) report accuracy, precision, recall, F1
and, for the pairs with a positive-class probability, ROC AUC, log loss,
the Brier score and calibration; multiclass tasks accuracy, macro F1 and
top-label calibration from the confidence; regression MAE, RMSE and MAPE.
Every task reports its pairs, the label delay quantiles and the primary
measure per drift window the predictions fell in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _calibration as cal
from . import _classification as cls
from . import _regression as reg
from ._pairs import PairRing
from ._task import Task
from ._windows import WindowSpec

__all__ = ["MEASURES", "PRIMARY", "window_quality"]

#: Every measure a window can report (exported as ``inferwatch.quality.<name>``).
MEASURES = ("accuracy", "precision", "recall", "f1", "macro_f1", "roc_auc", "log_loss",
            "brier", "ece", "mae", "rmse", "mape")
#: The measure shown first and per drift window.
PRIMARY = {"classification": "accuracy", "regression": "mae"}
#: Drift windows listed per quality window, newest first.
MAX_DRIFT_WINDOWS = 8


def window_quality(task: Task, ring: PairRing, spec: WindowSpec, now: float,
                   n_bins: int = cal.DEFAULT_BINS) -> dict[str, Any]:
    """``{"window", "pairs", "measures": {...}, "reliability", "delay", "by_drift_window"}``."""
    cols = ring.select(spec, now)
    n = int(cols["truth"].size)
    out: dict[str, Any] = {"window": spec.name, "pairs": n, "measures": {},
                           "reliability": None, "delay": _delay(cols["delay"]),
                           "by_drift_window": []}
    if n == 0:
        return out
    if task.kind == "regression":
        measures = _regression(cols["truth"], cols["pred"])
        primary = reg.mae
    elif task.binary:
        measures, bins = _binary(task, ring, cols, n_bins)
        out["reliability"] = bins
        primary = None
    else:
        measures, bins = _multiclass(cols, n_bins)
        out["reliability"] = bins
        primary = cls.accuracy
    out["measures"] = measures
    out["by_drift_window"] = _by_window(task, ring, cols, primary)
    return out


def _regression(truth: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    return {"mae": reg.mae(truth, pred), "rmse": reg.rmse(truth, pred),
            "mape": reg.mape(truth, pred)}


def _positives(task: Task, ring: PairRing, cols: dict[str, np.ndarray]) -> tuple[
        np.ndarray, np.ndarray]:
    code = ring.codes.get(task.positive)
    if code is None:
        false = np.zeros(cols["truth"].size, dtype=bool)
        return false, false.copy()
    return cols["truth"] == code, cols["pred"] == code


def _binary(task: Task, ring: PairRing, cols: dict[str, np.ndarray],
            n_bins: int) -> tuple[dict[str, float | None], list[dict[str, Any]] | None]:
    truth, pred = _positives(task, ring, cols)
    tp, fp, fn, _ = cls.binary_counts(truth, pred)
    measures: dict[str, float | None] = {
        "accuracy": float(np.mean(truth == pred)),
        "precision": cls.precision(tp, fp),
        "recall": cls.recall(tp, fn),
        "f1": cls.f1(tp, fp, fn),
    }
    score = cols["score"]
    scored = np.isfinite(score)
    if not scored.any():
        return measures, None
    t, p = truth[scored], score[scored]
    ece, bins = cal.reliability(t, p, n_bins)
    measures.update(roc_auc=cls.roc_auc(t, p), log_loss=cls.log_loss(t, p),
                    brier=cal.brier(t, p), ece=ece)
    return measures, bins


def _multiclass(cols: dict[str, np.ndarray],
                n_bins: int) -> tuple[dict[str, float | None], list[dict[str, Any]] | None]:
    truth, pred = cols["truth"], cols["pred"]
    measures: dict[str, float | None] = {"accuracy": cls.accuracy(truth, pred),
                                         "macro_f1": cls.macro_f1(truth, pred)}
    conf = cols["conf"]
    known = np.isfinite(conf)
    if not known.any():
        return measures, None
    correct = (truth == pred)[known]
    ece, bins = cal.reliability(correct, conf[known], n_bins)
    measures["ece"] = ece
    return measures, bins


def _delay(delay: np.ndarray) -> dict[str, float | None]:
    finite = delay[np.isfinite(delay)]
    if not finite.size:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.quantile(finite, [0.5, 0.9, 0.99]).tolist()
    return {"p50": p50, "p90": p90, "p99": p99, "max": float(finite.max())}


def _by_window(task: Task, ring: PairRing, cols: dict[str, np.ndarray],
               primary: Any) -> list[dict[str, Any]]:
    windows = cols["window"]
    ids = [int(w) for w in np.unique(windows) if w >= 0][-MAX_DRIFT_WINDOWS:]
    name = PRIMARY[task.kind]
    out = []
    for wid in reversed(ids):
        mask = windows == wid
        if primary is None:  # binary: the positive-or-not comparison
            truth, pred = _positives(task, ring, {k: v[mask] for k, v in cols.items()})
            value: float | None = float(np.mean(truth == pred))
        else:
            value = primary(cols["truth"][mask], cols["pred"][mask])
        out.append({"drift_window": wid, "pairs": int(mask.sum()), name: value})
    return out
