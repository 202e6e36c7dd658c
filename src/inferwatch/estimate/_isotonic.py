"""Isotonic regression by pool-adjacent-violators, in the form a calibrator keeps.

The fit is the one ``sklearn.isotonic.IsotonicRegression(out_of_bounds="clip")``
makes on the same (x, y, weight) triples: ties in x are pooled first (their
weighted mean), then adjacent blocks that violate the order (a block not
below the next one) are merged into their weighted mean. Prediction
interpolates linearly between the ends of the blocks and is constant
outside the fitted range (the ``tests/estimate`` suite compares).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pav_blocks"]


def _unique(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct x with the weighted mean of y and the summed weight of each."""
    order = np.lexsort((y, x))
    x, y, w = x[order], y[order], w[order]
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    weight = np.add.reduceat(w, starts)
    mean = np.add.reduceat(w * y, starts) / weight
    return x[starts], mean, weight


def pav_blocks(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(lower, upper, value, weight)`` of each block of the increasing fit.

    ``lower`` / ``upper`` are the smallest and largest x in the block; values
    increase strictly from one block to the next.
    """
    if w is None:
        w = np.ones_like(x)
    ux, uy, uw = _unique(x, y, w)
    # A stack of blocks: (first index, summed weight, weighted sum).
    first: list[int] = []
    total_w: list[float] = []
    total_wy: list[float] = []
    for i, (value, weight) in enumerate(zip(uy.tolist(), uw.tolist(), strict=True)):
        first.append(i)
        total_w.append(weight)
        total_wy.append(weight * value)
        # Merge while the previous block is not below the newest one.
        while len(first) > 1 and total_wy[-2] / total_w[-2] >= total_wy[-1] / total_w[-1]:
            wy, ww = total_wy.pop(), total_w.pop()
            first.pop()
            total_wy[-1] += wy
            total_w[-1] += ww
    starts = np.asarray(first, dtype=np.intp)
    ends = np.r_[starts[1:], ux.size] - 1
    weight_arr = np.asarray(total_w)
    value = np.asarray(total_wy) / weight_arr
    return ux[starts], ux[ends], value, weight_arr
