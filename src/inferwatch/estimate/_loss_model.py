"""A regressor's error, modelled on labelled reference data (for the direct loss estimate).

The reference's rows are binned by the prediction's quantiles (``bins``)
and, optionally, by a few features' quantiles (``feature_bins`` each, at
most :data:`MAX_FEATURES` features): a cell is one prediction bin and one
bin of every feature. For each cell with at least ``min_cell_rows``
reference rows the model keeps the mean absolute and squared error and
:data:`QUANTILES` + 1 quantiles of the absolute error (the distribution a
band is drawn from); every prediction bin is kept as well, and a live row
whose cell was too thin on the reference (or has a missing feature) uses
its prediction bin's. Within a cell the error may still trend with the
prediction (the widest cells, at the ends, most): each cell also keeps the
least-squares slope of the absolute error on the prediction, and a row's
error distribution is the cell's scaled by ``1 + slope (pred - centre) /
mean`` (between 1/4 and 4), so rows past the reference's range get an
error that keeps growing as it grew there. No gradient, no fitting loop:
counts, quantiles and one slope per cell.

Like :class:`~._calibrator.Calibrator`, it is a small JSON-ready dict.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .._errors import ConfigurationError
from ._check import numbers, reference_size

__all__ = ["MAX_FEATURES", "QUANTILES", "LossModel"]

MAX_FEATURES = 3
QUANTILES = 32
FORMAT = "inferwatch.loss_model"
VERSION = 1
PROFILE_KEY = "inferwatch.estimate.loss_model"


def _int_option(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value


def _features(features: Any, n: int) -> np.ndarray:
    """A float64 (n, k) array (NaN allowed: such rows use their prediction bin)."""
    try:
        arr = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("features must be a 2-D array of numbers (rows x features)") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"features must have one row per prediction ({n}), got shape "
                         f"{arr.shape}")
    if not 1 <= arr.shape[1] <= MAX_FEATURES:
        raise ValueError(f"give 1 to {MAX_FEATURES} features (those the error depends on "
                         f"most), got {arr.shape[1]}")
    return arr


class LossModel:
    """The expected absolute and squared error of a regressor, by prediction and features.

    ::

        model = inferwatch.estimate.LossModel.fit(ref_pred, ref_truth, ref_x[:, :2])
        inferwatch.estimate.DLE(model).estimate(live_pred, live_x[:, :2])["mae"]

    Build it with :meth:`fit` (or :meth:`from_dict` / :meth:`load`).
    """

    def __init__(self, *, pred_edges: np.ndarray, feature_edges: list[np.ndarray],
                 feature_bins: int, cell_ids: np.ndarray, counts: np.ndarray,
                 mean_abs: np.ndarray, mean_sq: np.ndarray, quantiles: np.ndarray,
                 centres: np.ndarray, slopes: np.ndarray, rows: int) -> None:
        self.pred_edges = pred_edges
        self.feature_edges = feature_edges
        self.feature_bins = feature_bins
        #: Table rows 0..bins-1 are the prediction bins; then one per kept cell (ids sorted).
        self.cell_ids = cell_ids
        self.counts = counts
        self.mean_abs = mean_abs
        self.mean_sq = mean_sq
        self.quantiles = quantiles
        #: Mean prediction and slope of the absolute error on it, per table row.
        self.centres = centres
        self.slopes = slopes
        self.rows = rows
        q = quantiles
        # Mean and second moment of the piecewise-linear quantile function (the
        # distribution draws come from), to centre the draws on the cell means.
        self.q_mean = ((q[:, 1:] + q[:, :-1]) / 2.0).mean(axis=1)
        self.q_sq = ((q[:, 1:] ** 2 + q[:, 1:] * q[:, :-1] + q[:, :-1] ** 2) / 3.0).mean(axis=1)
        spread = np.sqrt(np.maximum(mean_sq - mean_abs ** 2, 0.0))
        #: Standard error of each cell's mean absolute error.
        self.errors = spread / np.sqrt(np.maximum(counts, 1.0))

    @property
    def n_features(self) -> int:
        return len(self.feature_edges)

    @property
    def bins(self) -> int:
        return int(self.pred_edges.size) + 1

    @classmethod
    def fit(cls, prediction: Any, truth: Any, features: Any = None, *, bins: int = 10,
            feature_bins: int = 3, min_cell_rows: int = 50) -> LossModel:
        """Fit on labelled reference rows: the model's predictions, the true values and,
        optionally, up to three feature columns the error depends on."""
        pred = numbers(prediction, "prediction")
        true = numbers(truth, "truth")
        if true.size != pred.size:
            raise ValueError(f"truth has {true.size} values for {pred.size} predictions: pass "
                             "one true value per row")
        reference_size(pred.size, "a loss model")
        bins = _int_option("bins", bins, 1, 100)
        feature_bins = _int_option("feature_bins", feature_bins, 2, 10)
        min_cell_rows = _int_option("min_cell_rows", min_cell_rows, 5, 100_000)
        bins = max(1, min(bins, pred.size // min_cell_rows))
        err = np.abs(true - pred)
        pred_edges = np.unique(np.quantile(pred, np.linspace(0, 1, bins + 1)[1:-1]))
        pb = np.searchsorted(pred_edges, pred, side="right")
        n_bins = pred_edges.size + 1
        groups = [(i, pb == i) for i in range(n_bins)]
        feature_edges: list[np.ndarray] = []
        cell_ids = np.zeros(0, dtype=np.int64)
        if features is not None:
            x = _features(features, pred.size)
            cuts = np.linspace(0, 1, feature_bins + 1)[1:-1]
            for j in range(x.shape[1]):
                col = x[:, j]
                finite = col[np.isfinite(col)]
                if finite.size < min_cell_rows:
                    raise ValueError(f"features[:, {j}] has {finite.size} finite values; a "
                                     f"loss model needs at least {min_cell_rows}")
                feature_edges.append(np.quantile(finite, cuts))
            ids = _cell_ids(pb, x, feature_edges, feature_bins)
            valid = ids >= 0
            found, sizes = np.unique(ids[valid], return_counts=True)
            cell_ids = found[sizes >= min_cell_rows]
            groups += [(n_bins + k, ids == cid) for k, cid in enumerate(cell_ids.tolist())]
        size = n_bins + cell_ids.size
        counts, mean_abs, mean_sq = np.zeros(size), np.zeros(size), np.zeros(size)
        quantiles = np.zeros((size, QUANTILES + 1))
        centres, slopes = np.zeros(size), np.zeros(size)
        levels = np.linspace(0.0, 1.0, QUANTILES + 1)
        for row, mask in groups:
            e, x_pred = err[mask], pred[mask]
            if not e.size:  # a bin emptied by tied edges: the overall error
                e, x_pred = err, pred
            centres[row] = x_pred.mean()
            spread = float(np.sum((x_pred - centres[row]) ** 2))
            if spread > 0:
                slopes[row] = float(np.sum((x_pred - centres[row]) * (e - e.mean()))) / spread
            counts[row] = e.size
            mean_abs[row] = e.mean()
            mean_sq[row] = np.mean(e ** 2)
            quantiles[row] = np.quantile(e, levels)
        return cls(pred_edges=pred_edges, feature_edges=feature_edges,
                   feature_bins=feature_bins, cell_ids=cell_ids, counts=counts,
                   mean_abs=mean_abs, mean_sq=mean_sq, quantiles=quantiles, centres=centres,
                   slopes=slopes, rows=int(pred.size))

    def scale(self, prediction: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Each row's factor on its cell's error distribution (the within-cell trend)."""
        mean = np.maximum(self.mean_abs[cells], 1e-12)
        trend = 1.0 + self.slopes[cells] * (prediction - self.centres[cells]) / mean
        out: np.ndarray = np.clip(trend, 0.25, 4.0)
        return out

    def cells(self, prediction: Any, features: Any = None) -> np.ndarray:
        """The table row each live row's error is read from."""
        pred = numbers(prediction, "prediction")
        pb = np.searchsorted(self.pred_edges, pred, side="right")
        if not self.n_features:
            if features is not None:
                raise ValueError("this loss model was fitted without features: pass none")
            return pb
        if features is None:
            raise ValueError(f"this loss model was fitted on {self.n_features} feature(s): "
                             "pass the same columns for the live rows")
        x = _features(features, pred.size)
        if x.shape[1] != self.n_features:
            raise ValueError(f"pass the {self.n_features} feature column(s) the model was "
                             f"fitted on, got {x.shape[1]}")
        ids = _cell_ids(pb, x, self.feature_edges, self.feature_bins)
        at = np.searchsorted(self.cell_ids, ids)
        at = np.minimum(at, max(self.cell_ids.size - 1, 0))
        hit = (ids >= 0) & (self.cell_ids.size > 0)
        if self.cell_ids.size:
            hit &= self.cell_ids[at] == ids
        return np.where(hit, self.bins + at, pb)

    # -- storage ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; :meth:`from_dict` reads it back exactly."""
        return {"format": FORMAT, "version": VERSION, "rows": self.rows,
                "pred_edges": self.pred_edges.tolist(),
                "feature_edges": [e.tolist() for e in self.feature_edges],
                "feature_bins": self.feature_bins, "cell_ids": self.cell_ids.tolist(),
                "counts": self.counts.tolist(), "mean_abs": self.mean_abs.tolist(),
                "mean_sq": self.mean_sq.tolist(), "quantiles": self.quantiles.tolist(),
                "centres": self.centres.tolist(), "slopes": self.slopes.tolist()}

    @classmethod
    def from_dict(cls, data: Any) -> LossModel:
        """Read :meth:`to_dict`'s output; a malformed one raises ``ValueError``."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an inferwatch loss model (expected a dict with "
                             f"format={FORMAT!r}, as LossModel.to_dict() writes)")
        version = data.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ValueError(f"loss model format version {version!r}; this inferwatch reads "
                             f"up to {VERSION}: upgrade inferwatch")
        try:
            pred_edges = np.asarray(data["pred_edges"], dtype=np.float64)
            feature_edges = [np.asarray(e, dtype=np.float64) for e in data["feature_edges"]]
            cell_ids = np.asarray(data["cell_ids"], dtype=np.int64)
            counts = np.asarray(data["counts"], dtype=np.float64)
            mean_abs = np.asarray(data["mean_abs"], dtype=np.float64)
            mean_sq = np.asarray(data["mean_sq"], dtype=np.float64)
            quantiles = np.asarray(data["quantiles"], dtype=np.float64)
            centres = np.asarray(data["centres"], dtype=np.float64)
            slopes = np.asarray(data["slopes"], dtype=np.float64)
            size = pred_edges.size + 1 + cell_ids.size
            if (counts.shape != (size,) or mean_abs.shape != (size,) or mean_sq.shape != (size,)
                    or quantiles.shape != (size, QUANTILES + 1)
                    or centres.shape != (size,) or slopes.shape != (size,)
                    or len(feature_edges) > MAX_FEATURES):
                raise ValueError("inconsistent arrays")
            return cls(pred_edges=pred_edges, feature_edges=feature_edges,
                       feature_bins=int(data["feature_bins"]), cell_ids=cell_ids,
                       counts=counts, mean_abs=mean_abs, mean_sq=mean_sq,
                       quantiles=quantiles, centres=centres, slopes=slopes,
                       rows=int(data["rows"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"damaged loss model ({exc}); refit it with LossModel.fit on "
                             "the labelled reference") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as a JSON file."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LossModel:
        """Read a file written by :meth:`save`."""
        with open(path, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError:
                raise ValueError(f"{os.fspath(path)} is not JSON: not a loss model file") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return (f"LossModel(rows={self.rows}, bins={self.bins}, features={self.n_features}, "
                f"cells={self.cell_ids.size})")


def _cell_ids(pred_bin: np.ndarray, x: np.ndarray, edges: list[np.ndarray],
              feature_bins: int) -> np.ndarray:
    """One id per row combining its prediction bin and feature bins (-1: a missing feature)."""
    ids = pred_bin.astype(np.int64)
    missing = np.zeros(pred_bin.size, dtype=bool)
    for j, e in enumerate(edges):
        col = x[:, j]
        missing |= ~np.isfinite(col)
        ids = ids * feature_bins + np.searchsorted(e, np.nan_to_num(col), side="right")
    return np.where(missing, -1, ids)
