"""Bounded, mergeable, serialisable sketches the aggregator keeps per feature.

- :class:`KLLSketch`: quantiles of a numeric feature (KS, Wasserstein, PSI bins).
- :class:`BinnedCounts`: exact counts in frozen reference bins (PSI, JS).
- :class:`TopKCounts`: top-K categories plus "other" (chi-square, categorical PSI).
- :class:`Reservoir`: uniform sample of rows (MMD, classifier test).

All follow :class:`Sketch`: ``update``, ``update_batch``, ``merge``,
``to_bytes``/``from_bytes`` in one versioned frame; :func:`sketch_from_bytes`
reads any of them.
"""

from ._binned import BinnedCounts
from ._format import peek_kind
from ._kll import DEFAULT_K, KLLSketch
from ._protocol import Sketch
from ._reservoir import Reservoir
from ._topk import TopKCounts

_CLASSES: dict[int, type[KLLSketch | BinnedCounts | TopKCounts | Reservoir]] = {
    1: KLLSketch,
    2: BinnedCounts,
    3: TopKCounts,
    4: Reservoir,
}


def sketch_from_bytes(data: bytes) -> KLLSketch | BinnedCounts | TopKCounts | Reservoir:
    """Rebuild whichever sketch wrote ``data`` (its kind is in the header)."""
    return _CLASSES[peek_kind(data)].from_bytes(data)


__all__ = [
    "DEFAULT_K",
    "BinnedCounts",
    "KLLSketch",
    "Reservoir",
    "Sketch",
    "TopKCounts",
    "sketch_from_bytes",
]
