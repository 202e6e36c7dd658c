"""CBPE: a classifier's quality estimated from its calibrated confidences, without labels.

In the manner of NannyML's confidence-based performance estimation: the
calibrated probability of each row is taken as the chance that it is
positive (binary) or that its prediction is right (top-label), the expected
confusion matrix gives the point estimates (:mod:`._expected`) and
simulated labels the bands (:mod:`._simulate`).

Valid under covariate shift only: the inputs may move, but the chance of
the label given the model's score must stay what the calibration saw on
the reference. Under concept drift that chance changes and the estimate
is wrong without knowing it; the realised measure falling outside the
band, once labels arrive, is then the signal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ConfigurationError
from ._band import Band, Estimate, band_of
from ._calibrator import Calibrator
from ._check import probabilities
from ._expected import average_ranks, expected_auc, expected_binary
from ._options import check_options
from ._simulate import binary_draws, probability_draws, top_label_draws

__all__ = ["BINARY_MEASURES", "CBPE"]

BINARY_MEASURES = ("accuracy", "precision", "recall", "f1", "roc_auc")


class CBPE:
    """Confidence-based performance estimation for a classifier.

    ::

        calibrator = inferwatch.estimate.Calibrator.fit(ref_proba, ref_labels, positive=1)
        cbpe = inferwatch.estimate.CBPE(calibrator)
        est = cbpe.estimate(live_proba)          # no labels needed
        est["accuracy"].value, est["accuracy"].lower, est["accuracy"].upper

    Args:
        calibrator: a :class:`Calibrator` fitted on labelled reference rows like
            production before any shift. ``target="positive"`` (binary): accuracy,
            precision, recall, F1 and ROC AUC; ``target="top_label"`` (multiclass):
            accuracy.
        threshold: a row is predicted positive at or above it, when ``estimate`` is
            not told the predictions.
        level: the band's coverage (0.95: the realised value should fall outside it in
            one window in twenty when the assumptions hold).
        draws: simulated windows per band (a fixed ``seed``: the same rows always give
            the same band).
        calibration_error: widen the band by the calibration's own sampling error.
    """

    def __init__(self, calibrator: Calibrator, *, threshold: float = 0.5, level: float = 0.95,
                 draws: int = 400, seed: int = 0, calibration_error: bool = True) -> None:
        if not isinstance(calibrator, Calibrator):
            raise ConfigurationError("CBPE needs an inferwatch.estimate.Calibrator (fit one "
                                     "with Calibrator.fit on labelled reference data)")
        if not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
            raise ConfigurationError(f"threshold must be in (0, 1), got {threshold!r}")
        check_options(level, draws, seed)
        self.calibrator = calibrator
        self.threshold = float(threshold)
        self.level = float(level)
        self.draws = draws
        self.seed = seed
        self.calibration_error = bool(calibration_error)

    @property
    def target(self) -> str:
        """``positive`` (binary) or ``top_label`` (multiclass accuracy)."""
        return self.calibrator.target

    @property
    def measures(self) -> tuple[str, ...]:
        return BINARY_MEASURES if self.target == "positive" else ("accuracy",)

    def estimate(self, probability: Any, predicted: Any = None) -> Estimate:
        """Estimated measures of these rows.

        Args:
            probability: per row, the model's raw probability of the positive class
                (``top_label``: its confidence in the predicted class).
            predicted: per row, whether it was predicted positive (booleans); by
                default ``probability >= threshold``. Ignored for ``top_label``.
        """
        raw = probabilities(probability)
        if raw.size == 0:
            return Estimate(0, self.level, {}, "cbpe")
        if self.target == "top_label":
            return self._top_label(raw)
        if predicted is None:
            flags = raw >= self.threshold
        else:
            flags = np.asarray(predicted)
            if flags.shape != raw.shape or flags.dtype != np.bool_:
                raise ValueError(f"predicted must be {raw.size} booleans (whether each row "
                                 "was predicted positive)")
        return self._binary(raw, flags)

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def _binary(self, raw: np.ndarray, predicted: np.ndarray) -> Estimate:
        rng = self._rng()
        base, chunks = probability_draws(self.calibrator, raw, self.draws, rng,
                                         self.calibration_error)
        ranks, _, _ = average_ranks(raw)
        simulated = binary_draws(chunks, predicted, ranks, rng)
        point = expected_binary(base, predicted)
        point["roc_auc"] = expected_auc(base, raw)
        measures: dict[str, Band] = {}
        for name in BINARY_MEASURES:
            band = band_of(point[name], simulated[name], self.level)
            if band is not None:
                measures[name] = band
        return Estimate(int(raw.size), self.level, measures, "cbpe")

    def _top_label(self, raw: np.ndarray) -> Estimate:
        rng = self._rng()
        base, chunks = probability_draws(self.calibrator, raw, self.draws, rng,
                                         self.calibration_error)
        band = band_of(float(base.mean()), top_label_draws(chunks, rng), self.level)
        measures = {"accuracy": band} if band is not None else {}
        return Estimate(int(raw.size), self.level, measures, "cbpe")

    def __repr__(self) -> str:
        return f"CBPE({self.calibrator!r}, level={self.level}, draws={self.draws})"
