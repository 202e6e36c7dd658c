"""1-D Wasserstein (earth mover's) distance, scaled by the reference's spread."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._ks import _step_cdf, check_sorted_view
from ._validation import FloatArray, clean_1d, rescaled


@dataclass(frozen=True, eq=False)
class WassersteinResult:
    """``statistic`` = ``distance / reference_std`` (see :func:`wasserstein`).

    ``normalized`` is False when the reference has zero spread; ``statistic``
    is then the raw distance.
    """

    statistic: float
    distance: float
    reference_std: float
    normalized: bool
    n_ref: int
    n_cur: int
    n_dropped: int = 0
    pvalue: None = None


def _distance(rv: FloatArray, rw: FloatArray, cv: FloatArray, cw: FloatArray) -> float:
    # W1 = integral of |F - G| dx; both CDFs are steps, constant between merged points.
    points = np.unique(np.concatenate([rv, cv]))
    if points.size < 2:
        return 0.0
    left = points[:-1]
    gap = np.abs(_step_cdf(rv, rw, left) - _step_cdf(cv, cw, left))
    return float(np.sum(gap * np.diff(points)))


def _weighted_std(values: FloatArray, cumweights: FloatArray) -> float:
    w = np.diff(cumweights, prepend=0.0)
    mean = float(np.sum(w * values) / cumweights[-1])
    return float(np.sqrt(np.sum(w * (values - mean) ** 2) / cumweights[-1]))


def _result(
    distance: float, ref_std: float, n_ref: int, n_cur: int, n_dropped: int,
    scale: float = 1.0,
) -> WassersteinResult:
    # distance and std come from samples divided by ``scale`` (see rescaled):
    # their ratio is scale-free, and Python floats overflow to inf, not warn.
    normalized = ref_std > 0.0
    return WassersteinResult(
        statistic=distance / ref_std if normalized else distance * scale,
        distance=distance * scale,
        reference_std=ref_std * scale,
        normalized=normalized,
        n_ref=n_ref,
        n_cur=n_cur,
        n_dropped=n_dropped,
    )


def wasserstein(reference: npt.ArrayLike, current: npt.ArrayLike) -> WassersteinResult:
    """Earth mover's distance between two 1-D samples, divided by the reference's std.

    Dividing by the reference standard deviation (population form, ddof=0)
    makes the number unit-free, so one threshold fits every feature: a value
    of 0.1 means "the distribution moved by about a tenth of its usual
    spread" (for a pure location shift it is exactly the shift in stds).
    ``distance`` keeps the raw value, equal to
    ``scipy.stats.wasserstein_distance``.

    >>> wasserstein([0.0, 1.0], [1.0, 2.0]).distance
    1.0
    """
    ref, ref_dropped = clean_1d(reference, "reference")
    cur, cur_dropped = clean_1d(current, "current")
    both, scale = rescaled(np.concatenate([ref, cur]))
    ref = np.sort(both[: ref.size])
    cur = np.sort(both[ref.size :])
    rw = np.arange(1, ref.size + 1, dtype=np.float64)
    cw = np.arange(1, cur.size + 1, dtype=np.float64)
    return _result(
        _distance(ref, rw, cur, cw),
        float(np.std(ref)),
        ref.size,
        cur.size,
        ref_dropped + cur_dropped,
        scale,
    )


def wasserstein_from_cdfs(
    ref_values: npt.ArrayLike,
    ref_cumweights: npt.ArrayLike,
    cur_values: npt.ArrayLike,
    cur_cumweights: npt.ArrayLike,
    *,
    reference_std: float | None = None,
) -> WassersteinResult:
    """Wasserstein distance from two weighted sorted views, e.g. ``KLLSketch.sorted_view()``.

    ``reference_std`` defaults to the weighted std of the reference view
    (an estimate when the view comes from a sketch); pass the exact one if a
    profile recorded it.
    """
    rv, rw = check_sorted_view(ref_values, ref_cumweights, "reference view")
    cv, cw = check_sorted_view(cur_values, cur_cumweights, "current view")
    if reference_std is not None and not (math.isfinite(reference_std) and reference_std >= 0):
        raise ValueError(f"reference_std must be finite and >= 0, got {reference_std}")
    both, scale = rescaled(np.concatenate([rv, cv]))
    rv, cv = both[: rv.size], both[rv.size :]
    std = _weighted_std(rv, rw) if reference_std is None else float(reference_std) / scale
    return _result(_distance(rv, rw, cv, cw), std, round(float(rw[-1])), round(float(cw[-1])), 0,
                   scale)
