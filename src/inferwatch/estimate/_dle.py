"""DLE: a regressor's MAE and RMSE estimated without labels, from a loss model.

Each live row's error is read from the :class:`~._loss_model.LossModel`
cell it falls in (scaled by the cell's trend in the prediction); the
estimate is the mean of the rows' expected absolute error (MAE) and the
root of the mean of their expected squared error (RMSE).
The band comes from simulated windows: each draw takes one absolute error
per row from its cell's error distribution (the stored quantiles), after
moving each cell's level by a normal draw of its standard error (the loss
model's own sampling error), and is centred on the estimate.

Valid under covariate shift only, and only for shifts the cells see: the
error given the prediction (and features) must stay what the reference
showed. Under concept drift the realised error leaves the band.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ConfigurationError
from ._band import Band, Estimate, band_of
from ._loss_model import QUANTILES, LossModel
from ._options import check_options
from ._simulate import CHUNK

__all__ = ["DLE"]


class DLE:
    """Direct loss estimation for a regressor.

    ::

        loss = inferwatch.estimate.LossModel.fit(ref_pred, ref_truth)
        dle = inferwatch.estimate.DLE(loss)
        dle.estimate(live_pred)["mae"]          # Band(value, lower, upper)

    ``level``, ``draws``, ``seed`` and ``calibration_error`` as for :class:`CBPE`.
    """

    measures = ("mae", "rmse")

    def __init__(self, loss_model: LossModel, *, level: float = 0.95, draws: int = 400,
                 seed: int = 0, calibration_error: bool = True) -> None:
        if not isinstance(loss_model, LossModel):
            raise ConfigurationError("DLE needs an inferwatch.estimate.LossModel (fit one with "
                                     "LossModel.fit on labelled reference data)")
        check_options(level, draws, seed)
        self.loss_model = loss_model
        self.level = float(level)
        self.draws = draws
        self.seed = seed
        self.calibration_error = bool(calibration_error)

    def estimate(self, prediction: Any, features: Any = None) -> Estimate:
        """Estimated MAE and RMSE of these rows (``features``: the loss model's columns)."""
        model = self.loss_model
        cells = model.cells(prediction, features)
        n = int(cells.size)
        if n == 0:
            return Estimate(0, self.level, {}, "dle")
        factor = model.scale(np.asarray(prediction, dtype=np.float64), cells)
        mae = float((factor * model.mean_abs[cells]).mean())
        mse = float((factor ** 2 * model.mean_sq[cells]).mean())
        centre_abs = float((factor * model.q_mean[cells]).mean())
        centre_sq = float((factor ** 2 * model.q_sq[cells]).mean())
        rng = np.random.default_rng(self.seed)
        flat = model.quantiles.ravel()
        start = cells * (QUANTILES + 1)
        maes, mses = [], []
        per = max(1, CHUNK // n)
        for first in range(0, self.draws, per):
            size = min(per, self.draws - first)
            u = rng.random((size, n)) * QUANTILES
            k = np.minimum(u.astype(np.intp), QUANTILES - 1)
            low = flat[start + k]
            err = low + (u - k) * (flat[start + k + 1] - low)
            if self.calibration_error:
                shift = rng.standard_normal((size, model.counts.size)) * model.errors
                err = np.maximum(err + shift[:, cells], 0.0)
            err *= factor
            maes.append(mae + err.mean(axis=1) - centre_abs)
            mses.append(mse + (err ** 2).mean(axis=1) - centre_sq)
        draws_mae = np.concatenate(maes)
        draws_rmse = np.sqrt(np.maximum(np.concatenate(mses), 0.0))
        measures: dict[str, Band] = {}
        for name, value, draws in (("mae", mae, draws_mae),
                                   ("rmse", float(np.sqrt(mse)), draws_rmse)):
            band = band_of(value, draws, self.level)
            if band is not None:
                measures[name] = band
        return Estimate(n, self.level, measures, "dle")

    def __repr__(self) -> str:
        return f"DLE({self.loss_model!r}, level={self.level}, draws={self.draws})"
