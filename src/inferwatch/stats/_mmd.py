"""Maximum mean discrepancy with an RBF kernel and a permutation p-value."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._validation import FloatArray, clean_pair_2d, rescaled


@dataclass(frozen=True, eq=False)
class MMDResult:
    """Unbiased MMD² (can dip slightly below 0 under no drift) and its permutation p-value.

    ``pvalue`` is None when ``n_permutations == 0``.
    """

    statistic: float
    pvalue: float | None
    bandwidth: float
    n_ref: int
    n_cur: int
    n_permutations: int
    n_dropped: int = 0


def _subsample(x: FloatArray, cap: int, rng: np.random.Generator) -> FloatArray:
    if x.shape[0] <= cap:
        return x
    return x[np.sort(rng.choice(x.shape[0], size=cap, replace=False))]


_blas: Any = None


def _one_blas_thread() -> Any:
    """A context running BLAS on one thread (threadpoolctl), or a no-op without it.

    The kernel products here are small (hundreds of rows): a multi-threaded
    BLAS spends more CPU spinning its worker threads up and down than it
    saves, CPU the server's request threads need (measured: 3 µs per drifted
    row with OpenBLAS on 2 cores).
    """
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController()
        except Exception:  # not installed, or no BLAS it knows: run as is
            _blas = False
    if _blas is False:
        return contextlib.nullcontext()
    return _blas.limit(limits=1, user_api="blas")


def _mmd2(
    k0: FloatArray, rowsum: FloatArray, total: float, s: FloatArray, n: int, m: int
) -> FloatArray:
    """Unbiased MMD² for each column of the 0/1 membership matrix ``s`` (N x P).

    With the diagonal of K removed, every block sum is a quadratic form in the
    membership vector, so all permutations cost one matrix product.
    """
    xx = np.einsum("ij,ij->j", s, k0 @ s)
    xr = s.T @ rowsum
    yy = total - 2.0 * xr + xx
    xy = xr - xx
    return np.asarray(xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (n * m))


def mmd(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    n_permutations: int = 200,
    bandwidth: float | None = None,
    seed: int = 0,
    max_samples: int = 1000,
) -> MMDResult:
    """Multivariate two-sample test: MMD² with a Gaussian (RBF) kernel.

    Rows are observations, columns features (1-D input is one feature).
    Features should be on comparable scales (standardise first), since one
    bandwidth serves all of them. ``bandwidth=None`` uses the median heuristic
    (median pairwise distance of the pooled sample), which needs no tuning and
    is the usual default. Each side is subsampled to ``max_samples`` rows
    (deterministically from ``seed``) to bound the O(N²) kernel. The p-value
    is ``(1 + #{permuted >= observed}) / (1 + n_permutations)``, never 0.
    """
    x, x_dropped, y, y_dropped = clean_pair_2d(reference, current)
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    if max_samples < 2:
        raise ValueError(f"max_samples must be >= 2, got {max_samples}")
    rng = np.random.default_rng(seed)
    x = _subsample(x, max_samples, rng)
    y = _subsample(y, max_samples, rng)
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"MMD needs at least 2 rows per side, got {n} and {m}")
    # The kernel depends on distances over the bandwidth only: samples near the
    # float limit are rescaled (with a user bandwidth) so the squares stay finite.
    with _one_blas_thread():
        return _mmd_kernel(x, y, n, m, bandwidth, n_permutations, rng, x_dropped + y_dropped)


def _mmd_kernel(
    x: FloatArray, y: FloatArray, n: int, m: int, bandwidth: float | None,
    n_permutations: int, rng: np.random.Generator, n_dropped: int,
) -> MMDResult:
    z, scale = rescaled(np.vstack([x, y]))
    if bandwidth is not None and np.isfinite(bandwidth) and bandwidth > 0:
        bandwidth = bandwidth / scale
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    if bandwidth is None:
        dist = np.sqrt(d2[np.triu_indices(n + m, k=1)])
        positive = dist[dist > 0]
        bandwidth = float(np.median(positive)) if positive.size else 1.0
    elif not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive number, got {bandwidth}")
    # Divided twice, not by the square: a tiny bandwidth squared underflows to 0,
    # and 0 * inf would be NaN. exp(-inf) = 0 is the right limit for far points.
    with np.errstate(over="ignore"):
        k0 = np.exp(-0.5 * ((d2 / bandwidth) / bandwidth))
    np.fill_diagonal(k0, 0.0)
    rowsum = k0.sum(axis=1)
    total = float(rowsum.sum())
    observed_s = np.zeros((n + m, 1))
    observed_s[:n] = 1.0
    observed = float(_mmd2(k0, rowsum, total, observed_s, n, m)[0])
    pvalue: float | None = None
    if n_permutations:
        members = rng.random((n_permutations, n + m)).argsort(axis=1)[:, :n]
        s = np.zeros((n_permutations, n + m))
        np.put_along_axis(s, members, 1.0, axis=1)
        permuted = _mmd2(k0, rowsum, total, s.T, n, m)
        # A relative tolerance so that permutations equal to the observed one count as ">=".
        hits = int(np.sum(permuted >= observed - 1e-12 * max(abs(observed), 1e-12)))
        pvalue = (1 + hits) / (1 + n_permutations)
    return MMDResult(
        statistic=observed,
        pvalue=pvalue,
        bandwidth=float(bandwidth) * scale,
        n_ref=n,
        n_cur=m,
        n_permutations=n_permutations,
        n_dropped=n_dropped,
    )
