"""Uniform row reservoir (Algorithm L) for multivariate tests (MMD, classifier).

Algorithm L (Li, 1994) draws how many rows to *skip* before the next
replacement, so a batch costs O(replacements), about ``k log(n / k)`` over a
whole stream, not one random draw per row. Too noisy for univariate PSI/KS
(use KLL or BinnedCounts there); meant for joint-distribution tests.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from ._format import frame, unframe

_KIND = 4
FloatArray = npt.NDArray[np.float64]


class Reservoir:
    """Uniform sample of at most ``capacity`` rows of ``n_features`` floats.

    ``n_features=None`` takes the width of the first batch. Rows with NaN or
    inf are dropped and counted in ``n_dropped``.
    """

    def __init__(self, capacity: int = 1024, n_features: int | None = None, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if n_features is not None and n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.capacity = capacity
        self.n_features = n_features
        self._rng = np.random.default_rng(seed)
        self._rows: FloatArray = np.empty((0, n_features or 0))
        self._size = 0
        self._n = 0
        self.n_dropped = 0
        self._w = 1.0
        self._next = 0  # stream index of the next row to enter a full reservoir

    @property
    def n(self) -> int:
        """Rows offered (finite ones)."""
        return self._n

    def __len__(self) -> int:
        return self._n

    @property
    def rows(self) -> FloatArray:
        """The sampled rows, (min(n, capacity), n_features); a copy."""
        return np.array(self._rows[: self._size], dtype=np.float64)

    @property
    def nbytes(self) -> int:
        return int(self._rows.nbytes)

    def _draw_w(self) -> float:
        w = math.exp(math.log(1.0 - self._rng.random()) / self.capacity)
        # W = 1 (a draw of exactly 0) would make the skip length log(u) / log(0).
        return min(w, _BELOW_ONE)

    def _schedule(self, after: int) -> None:
        # Number of rows skipped is geometric with success probability 1 - W.
        u = 1.0 - self._rng.random()
        self._next = after + math.floor(math.log(u) / math.log1p(-self._w)) + 1

    def _ensure(self, width: int) -> None:
        if width < 1:
            raise ValueError("rows need at least one feature (got 0 columns)")
        if self.n_features is None:
            self.n_features = width
        if width != self.n_features:
            raise ValueError(f"rows have {width} features, this reservoir holds {self.n_features}")
        if self._rows.shape[1:] != (width,):
            self._rows = np.empty((0, width))

    def _reserve(self, size: int) -> None:
        # Room grows with the rows actually kept (doubling, up to capacity), so a
        # large capacity costs memory only once the stream fills it.
        held = self._rows.shape[0]
        if size > held:
            grown = np.empty((min(self.capacity, max(size, 2 * held, 16)), self._rows.shape[1]))
            grown[:held] = self._rows
            self._rows = grown

    def update(self, row: npt.ArrayLike) -> None:
        """Offer one row (1-D of n_features, or a scalar when n_features is 1)."""
        self.update_batch(np.asarray(row, dtype=np.float64).reshape(1, -1))

    def update_batch(self, rows: npt.ArrayLike) -> None:
        """Offer a batch of rows, shape (n, n_features); 1-D means one feature."""
        try:
            arr = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(
                f"Reservoir.update_batch needs numeric rows of equal length ({exc})"
            ) from None
        if arr.ndim == 1:
            if arr.size == 0:  # nothing offered: the width is still open
                return
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(f"rows must be 2-D (n, n_features), got shape {arr.shape}")
        self._ensure(arr.shape[1])
        finite = np.isfinite(arr).all(axis=1)
        if not finite.all():
            self.n_dropped += int((~finite).sum())
            arr = arr[finite]
        start = self._n
        fill = min(self.capacity - self._size, arr.shape[0])
        if fill:
            self._reserve(self._size + fill)
            self._rows[self._size : self._size + fill] = arr[:fill]
            self._size += fill
            if self._size == self.capacity:
                self._w = self._draw_w()
                self._schedule(start + fill - 1)
        end = start + arr.shape[0]
        while self._size == self.capacity and self._next < end:
            self._rows[int(self._rng.integers(self.capacity))] = arr[self._next - start]
            self._w *= self._draw_w()
            self._schedule(self._next)
        self._n = end

    def merge(self, other: Reservoir) -> Reservoir:
        """Combine into a uniform sample of both streams (in place; returns self).

        The number of rows taken from each side is hypergeometric in the
        *seen* counts (as if ``capacity`` rows were drawn from the union), and
        those rows are drawn uniformly from that side's reservoir. Each side's
        reservoir is a uniform sample of its stream, so the result is uniform
        over the union; Algorithm L's threshold is then redrawn from its
        distribution after ``n_a + n_b`` rows, Beta(k, n - k + 1).
        """
        if not isinstance(other, Reservoir):
            raise TypeError(f"can only merge a Reservoir, got {type(other).__name__}")
        if other.capacity != self.capacity:
            raise ValueError(
                f"cannot merge reservoirs of capacity {self.capacity} and {other.capacity}"
            )
        if other.n_features is None or other._n == 0:
            self.n_dropped += other.n_dropped
            return self
        self._ensure(other.n_features)
        a, b = self.rows, other.rows
        total = self._n + other._n
        if a.shape[0] + b.shape[0] <= self.capacity:
            merged = np.vstack([a, b])
        else:
            take_a = int(self._rng.hypergeometric(self._n, other._n, self.capacity))
            pick_a = self._rng.choice(a.shape[0], take_a, replace=False)
            pick_b = self._rng.choice(b.shape[0], self.capacity - take_a, replace=False)
            merged = np.vstack([a[pick_a], b[pick_b]])
        self._size = merged.shape[0]
        self._reserve(self._size)
        self._rows[: self._size] = merged
        self._n = total
        self.n_dropped += other.n_dropped
        if self._size == self.capacity:
            self._w = min(float(self._rng.beta(self.capacity, total - self.capacity + 1)),
                          _BELOW_ONE)
            self._schedule(total - 1)
        return self

    def to_bytes(self) -> bytes:
        meta: dict[str, Any] = {
            "capacity": self.capacity,
            "n_features": self.n_features,
            "size": self._size,
            "n": self._n,
            "n_dropped": self.n_dropped,
            "w": self._w,
            "next": self._next,
            "rng": self._rng.bit_generator.state,
        }
        head = json.dumps(meta).encode()
        body = self._rows[: self._size].astype("<f8").tobytes()
        return frame(_KIND, struct.pack("<I", len(head)) + head + body)

    @classmethod
    def from_bytes(cls, data: bytes) -> Reservoir:
        payload = unframe(data, _KIND)
        try:
            (head_len,) = struct.unpack_from("<I", payload)
            meta = json.loads(payload[4 : 4 + head_len])
            if not isinstance(meta, dict) or not isinstance(meta["rng"], dict):
                raise ValueError("the header is not a JSON object")
            capacity, size, n, n_dropped, next_row = (
                _integer(meta[key]) for key in ("capacity", "size", "n", "n_dropped", "next"))
            width = 0 if meta["n_features"] is None else _integer(meta["n_features"])
            if meta["n_features"] is not None and width < 1:
                raise ValueError("n_features must be >= 1")
            w = float(meta["w"])
            problem = _inconsistency(capacity, width, size, n, w, next_row)
            if problem:
                raise ValueError(problem)
            sketch = cls(capacity, width or None)
            body = payload[4 + head_len :]
            if len(body) != 8 * size * width:
                raise ValueError("row data length does not match the header")
            if width:
                rows = np.frombuffer(body, "<f8").reshape(size, width)
                if not np.isfinite(rows).all():
                    raise ValueError("a kept row holds NaN or inf")
                sketch._ensure(width)
                sketch._reserve(size)
                sketch._rows[:size] = rows
            sketch._size, sketch._n, sketch.n_dropped = size, n, n_dropped
            sketch._w, sketch._next = w, next_row
            sketch._rng.bit_generator.state = meta["rng"]
        except (struct.error, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ValueError(f"corrupted Reservoir payload: {exc}") from None
        return sketch

    def __repr__(self) -> str:
        return f"Reservoir(capacity={self.capacity}, n={self._n}, size={self._size})"


_BELOW_ONE = math.nextafter(1.0, 0.0)


def _integer(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def _inconsistency(
    capacity: int, width: int, size: int, n: int, w: float, next_row: int
) -> str | None:
    """What is wrong with a deserialised header, or None (see ``KLLSketch``'s twin)."""
    if capacity < 1:
        return "capacity must be >= 1"
    if size != min(n, capacity):
        return f"{size} rows kept of {n} seen with capacity {capacity}"
    if size and not width:
        return "rows kept without a width"
    if size == capacity and not (0.0 < w < 1.0 and next_row >= n):
        # Algorithm L's state once full: threshold in (0, 1), next replacement ahead.
        return f"sampler state w={w}, next={next_row} is impossible after {n} rows"
    return None
