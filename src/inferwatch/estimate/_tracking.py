"""A label tracker's estimates: label-free quality beside the realised one.

``inferwatch.labels.track(..., estimator=CBPE(calibrator))`` gives the
tracker a :class:`TrackedEstimates`. It does two things, both on the
aggregator thread or at collection, never on the request path:

- **live**: every stored prediction's estimate input (the positive class's
  probability, the confidence or the predicted value) also goes into a
  bounded ring per series (:mod:`._recent`), and each of the tracker's
  windows is estimated over the latest predictions (``"count:N"``: the last
  N predictions; a duration: those made in it) — before any label arrives;
- **beside the realised measure**: each quality window of joined pairs is
  estimated from the same pairs' stored probabilities, next to the measure
  their labels give, and a measure whose realised value falls outside the
  estimate's band is flagged ``outside`` (the sign of concept drift, which
  an estimate cannot see).

The tracker stores no features, so a regression tracker's
:class:`~._dle.DLE` must use a loss model fitted on the prediction alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ConfigurationError
from ..labels import _classification as cls
from ..labels import _regression as reg
from ._cbpe import CBPE
from ._dle import DLE
from ._recent import RecentRing

if TYPE_CHECKING:
    from ..labels._pairs import PairRing
    from ..labels._store import StoredPrediction
    from ..labels._task import Task
    from ..labels._windows import WindowSpec
    from ._band import Estimate

__all__ = ["MAX_SERIES", "TrackedEstimates"]

#: Series (model, version, variant) with a live ring at most; later ones are counted.
MAX_SERIES = 128


def _kind(estimator: Any, task: Task) -> str:
    """``binary``, ``top_label`` or ``regression``; raises when the estimator cannot serve
    the task."""
    if isinstance(estimator, CBPE):
        if task.kind != "classification":
            raise ConfigurationError("a CBPE estimates classifiers; for task='regression' "
                                     "pass estimator=inferwatch.estimate.DLE(loss_model)")
        if estimator.target == "positive":
            if not task.binary:
                raise ConfigurationError("this CBPE's calibrator is for a binary classifier "
                                         "(target='positive'): give the tracker positive=, "
                                         "or fit the calibrator with target='top_label'")
            return "binary"
        if task.binary:
            raise ConfigurationError("a top-label calibrator is for multiclass trackers; for "
                                     "positive= fit it on the positive class's probability")
        return "top_label"
    if isinstance(estimator, DLE):
        if task.kind != "regression":
            raise ConfigurationError("a DLE estimates regressors; for a classifier pass "
                                     "estimator=inferwatch.estimate.CBPE(calibrator)")
        if estimator.loss_model.n_features:
            raise ConfigurationError("the label tracker stores no features, so its DLE needs "
                                     "a LossModel fitted on the prediction alone (features="
                                     "None); use DLE.estimate(pred, features) yourself for "
                                     "one with features")
        return "regression"
    raise ConfigurationError("estimator must be an inferwatch.estimate.CBPE or DLE, "
                             f"got {type(estimator).__name__}")


def _flat(estimate: Estimate) -> dict[str, dict[str, float]]:
    return {name: band.to_dict() for name, band in estimate.measures.items()}


class TrackedEstimates:
    """The live rings and estimate helpers of one :class:`~inferwatch.labels.LabelTracker`."""

    def __init__(self, estimator: CBPE | DLE, task: Task, windows: Sequence[WindowSpec],
                 capacity: int) -> None:
        self.kind = _kind(estimator, task)
        self.estimator = estimator
        self.task = task
        self.windows = tuple(windows)
        self.capacity = capacity
        self.rings: dict[tuple[str, str, str], RecentRing] = {}
        self.series_full = 0
        self._cache: dict[tuple[Any, ...], tuple[tuple[int, int], dict[str, Any]]] = {}

    @property
    def method(self) -> str:
        return "dle" if isinstance(self.estimator, DLE) else "cbpe"

    def _estimate(self, value: np.ndarray, flag: np.ndarray) -> Estimate:
        estimator = self.estimator
        if isinstance(estimator, DLE):
            return estimator.estimate(value)
        return estimator.estimate(value, flag if self.kind == "binary" else None)

    # -- live: the latest predictions ------------------------------------------------------

    def add(self, entries: Sequence[StoredPrediction]) -> None:
        """Keep the estimate input of each stored prediction (the aggregator thread)."""
        by_series: dict[tuple[str, str, str], list[StoredPrediction]] = {}
        for entry in entries:
            by_series.setdefault((entry.model, entry.version, entry.variant or ""),
                                 []).append(entry)
        for series, group in by_series.items():
            if self.kind == "binary":
                value = np.fromiter((e.score for e in group), np.float64, len(group))
                flag = np.fromiter((e.prediction == self.task.positive for e in group), bool,
                                   len(group))
            elif self.kind == "top_label":
                value = np.fromiter((e.confidence for e in group), np.float64, len(group))
                flag = np.zeros(len(group), dtype=bool)
            else:
                value = np.fromiter((float(e.prediction) for e in group), np.float64,
                                    len(group))
                flag = np.zeros(len(group), dtype=bool)
            at = np.fromiter((e.timestamp for e in group), np.float64, len(group))
            usable = np.isfinite(value)
            if not usable.all():
                value, flag, at = value[usable], flag[usable], at[usable]
            if not value.size:
                continue
            ring = self.rings.get(series)
            if ring is None:
                if len(self.rings) >= MAX_SERIES:
                    self.series_full += 1
                    continue
                ring = self.rings[series] = RecentRing(self.capacity)
            ring.extend(value, flag, at)

    def live(self, now: float) -> list[dict[str, Any]]:
        """Per series, each window's estimate over its latest predictions."""
        out = []
        for series, ring in sorted(self.rings.items()):
            windows = []
            for spec in self.windows:
                stamp = (ring.added, int(now) if spec.kind == "time" else 0)
                key = (series, spec.name)
                cached = self._cache.get(key)
                if cached is None or cached[0] != stamp:
                    value, flag = ring.select(spec, now)
                    estimate = self._estimate(value, flag)
                    cached = (stamp, {"window": spec.name, "predictions": estimate.rows,
                                      "measures": _flat(estimate)})
                    self._cache[key] = cached
                windows.append(cached[1])
            out.append({"model": series[0], "version": series[1], "variant": series[2] or None,
                        "method": self.method, "level": self.estimator.level,
                        "windows": windows})
        return out

    # -- beside the realised measure: the same joined pairs ---------------------------------

    def for_pairs(self, ring: PairRing, cols: dict[str, np.ndarray]) -> dict[str, Any] | None:
        """The estimate of a quality window's pairs from their stored probabilities, each
        measure with the realised value of the same pairs and ``outside`` its band."""
        truth, pred = cols["truth"], cols["pred"]
        if self.kind == "regression":
            estimate = self._estimate(pred.astype(np.float64), np.zeros(pred.size, bool))
            realised = {"mae": reg.mae(truth, pred), "rmse": reg.rmse(truth, pred)}
        elif self.kind == "binary":
            score = cols["score"]
            use = np.isfinite(score)
            code = ring.codes.get(self.task.positive)
            is_pos = truth[use] == code if code is not None else np.zeros(int(use.sum()), bool)
            said = pred[use] == code if code is not None else np.zeros(int(use.sum()), bool)
            estimate = self._estimate(score[use], said)
            tp, fp, fn, _ = cls.binary_counts(is_pos, said)
            realised = {"accuracy": cls.accuracy(is_pos, said), "precision": cls.precision(tp, fp),
                        "recall": cls.recall(tp, fn), "f1": cls.f1(tp, fp, fn),
                        "roc_auc": cls.roc_auc(is_pos, score[use])}
        else:
            conf = cols["conf"]
            use = np.isfinite(conf)
            estimate = self._estimate(conf[use], np.zeros(int(use.sum()), bool))
            realised = {"accuracy": cls.accuracy(truth[use], pred[use])}
        if not estimate.rows:
            return None
        measures: dict[str, dict[str, Any]] = {}
        for name, band in estimate.measures.items():
            real = realised.get(name)
            known = real is not None and math.isfinite(real)
            outside = None if real is None or not known else not band.contains(real)
            measures[name] = {**band.to_dict(), "realised": real, "outside": outside}
        return {"pairs": estimate.rows, "method": self.method, "level": estimate.level,
                "measures": measures,
                "outside": sorted(k for k, m in measures.items() if m["outside"])}

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.rings.values())
