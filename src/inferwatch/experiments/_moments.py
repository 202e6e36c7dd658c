"""Mergeable sufficient statistics of one metric in one cell (variant, segment, day).

Count, mean and centred second moment of the value ``y``, and of the
pre-experiment covariate ``x`` with the co-moment of the two: everything the
tests here need, in 7 numbers. They are the co-moment form of
(n, sum y, sum y², sum x, sum x², sum xy) — the same information, but updated by Welford's
recurrence and merged by Chan's formula, so no precision is lost to
cancellation when values are large (latencies in ns) or n is in the
millions. Merging is exact up to rounding: two replicas' statistics
merged equal the statistics of all the data.

CUPED needs the covariate of every observation: ``missing`` counts
observations that came without one, and the covariate fields mean
something only while it is 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Moments"]


class Moments:
    """Count, mean and co-moments of (value, covariate); bounded and mergeable.

    ::

        m = Moments()
        m.add(3.2, covariate=2.9)
        m.merge(Moments.of([1.0, 2.0], covariates=[0.5, 1.5]))
        m.mean, m.variance
    """

    __slots__ = ("c_xy", "m2", "m2_x", "mean", "mean_x", "missing", "n")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.mean_x = 0.0
        self.m2_x = 0.0
        self.c_xy = 0.0
        #: Observations without a covariate (CUPED is off for this cell if any).
        self.missing = 0

    def add(self, value: float, covariate: float | None = None) -> None:
        """One observation (finite numbers; the caller checks)."""
        n = self.n + 1
        self.n = n
        dy = value - self.mean
        self.mean += dy / n
        ry = value - self.mean
        self.m2 += dy * ry
        if covariate is None:
            self.missing += 1
        elif not self.missing:
            dx = covariate - self.mean_x
            self.mean_x += dx / n
            self.m2_x += dx * (covariate - self.mean_x)
            self.c_xy += dx * ry

    def merge(self, other: Moments) -> Moments:
        """Fold ``other`` into this one (Chan et al.); returns self."""
        nb = other.n
        if nb == 0:
            return self
        na = self.n
        if na == 0:
            self._copy_from(other)
            return self
        n = na + nb
        w = na * nb / n
        dy = other.mean - self.mean
        dx = other.mean_x - self.mean_x
        self.mean += dy * nb / n
        self.m2 += other.m2 + dy * dy * w
        self.mean_x += dx * nb / n
        self.m2_x += other.m2_x + dx * dx * w
        self.c_xy += other.c_xy + dx * dy * w
        self.missing += other.missing
        self.n = n
        return self

    def _copy_from(self, other: Moments) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(other, name))

    def copy(self) -> Moments:
        out = Moments()
        out._copy_from(self)
        return out

    @classmethod
    def of(cls, values: npt.ArrayLike, covariates: npt.ArrayLike | None = None) -> Moments:
        """The statistics of a batch (numpy), equal to adding its values one by one."""
        y = np.asarray(values, dtype=np.float64).ravel()
        out = cls()
        if y.size == 0:
            return out
        out.n = int(y.size)
        out.mean = float(y.mean())
        ry = y - out.mean
        out.m2 = float(ry @ ry)
        if covariates is None:
            out.missing = out.n
            return out
        x = np.asarray(covariates, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"{x.size} covariates for {y.size} values; give one per value")
        out.mean_x = float(x.mean())
        rx = x - out.mean_x
        out.m2_x = float(rx @ rx)
        out.c_xy = float(rx @ ry)
        return out

    @property
    def variance(self) -> float:
        """Sample variance of the values (n - 1 in the denominator; 0 below 2)."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    @property
    def has_covariate(self) -> bool:
        """Whether every observation carried a covariate (and there was one)."""
        return self.n > 0 and self.missing == 0

    def to_list(self) -> list[float]:
        """The seven numbers, for shipping to another process (:meth:`from_list`)."""
        return [float(self.n), self.mean, self.m2, self.mean_x, self.m2_x, self.c_xy,
                float(self.missing)]

    @classmethod
    def from_list(cls, data: Any) -> Moments:
        """Statistics from :meth:`to_list`'s output; refuses anything malformed."""
        if not isinstance(data, (list, tuple)) or len(data) != 7:
            raise ValueError("moments must be the 7 numbers Moments.to_list() gives")
        values = [float(v) for v in data]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("moments must be finite numbers")
        n, missing = values[0], values[6]
        if n < 0 or n != int(n) or missing < 0 or missing != int(missing) or missing > n:
            raise ValueError("moments' count and missing count must be integers, 0 <= missing <= n")
        out = cls()
        out.n, out.missing = int(n), int(missing)
        out.mean, out.m2, out.mean_x, out.m2_x, out.c_xy = values[1:6]
        if out.m2 < 0 or out.m2_x < 0:
            raise ValueError("moments' second moments must be >= 0")
        return out

    def __repr__(self) -> str:
        return f"Moments(n={self.n}, mean={self.mean!r}, variance={self.variance!r})"
