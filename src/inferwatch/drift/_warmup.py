"""A reference frozen from a model version's first live rows, when no profile was given.

One :class:`Warmup` per (model name, model version), shared by the streams of
all its variants: the reference every variant is compared with is frozen once,
from the version's first ``warmup_rows`` rows (of every variant, or of the
``reference_variant`` alone), never by a variant from its own traffic, so a
treatment is measured against the same reference as its control. The streams
waiting on it are frozen together the moment it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .._record import InferenceRecord
from ._build import build_profile
from ._columns import TableBuilder
from ._ingest import output_parts
from ._profile import ReferenceProfile

__all__ = ["Warmup"]


class Member(Protocol):
    """A stream waiting on the warm-up (``_stream.Stream``)."""

    def freeze(self, profile: ReferenceProfile, *, shared: bool = True) -> None: ...


class Warmup:
    """Live rows gathered until ``warmup_rows``, then frozen into a reference profile."""

    def __init__(self, model: str, *, rows: int, feature_names: Sequence[str] = (),
                 categorical: Sequence[str] = ()) -> None:
        self.model = model
        self.rows = rows
        self._names = tuple(feature_names)
        self._categorical = tuple(categorical)
        self.profile: ReferenceProfile | None = None
        #: Records lost because a value among the warm-up rows could not be read.
        self.bad_records = 0
        #: The streams frozen with the reference when it is (every variant's).
        self.members: list[Member] = []
        self._table = TableBuilder(self._names)
        self._outputs: dict[str, list[Any]] = {"prediction": [], "confidence": [], "sizes": []}

    @property
    def n_rows(self) -> int:
        return self._table.n_rows

    def add(self, records: Sequence[InferenceRecord]) -> None:
        """Gather ``records``; freeze the reference (and every member) once there are enough."""
        if self.profile is not None:
            return
        outs = self._outputs
        for r in records:
            bs = r.batch_size if r.batch_size > 0 else 1
            self._table.add(r.features, bs)
            outs["prediction"].append(r.prediction if r.outcome == "ok" else None)
            outs["confidence"].append(r.confidence)
            outs["sizes"].append(bs)
        if self._table.n_rows < self.rows:
            return
        try:
            profile = self._build()
        except Exception:
            # An unreadable value among the warm-up rows: they are counted lost and
            # the warm-up starts over, rather than failing every batch from now on.
            self.bad_records += len(outs["sizes"])
            self._table = TableBuilder(self._names)
            self._outputs = {"prediction": [], "confidence": [], "sizes": []}
            return
        self.profile = profile
        self._table = TableBuilder(self._names)
        self._outputs = {"prediction": [], "confidence": [], "sizes": []}
        members, self.members = self.members, []
        for stream in members:
            stream.freeze(profile, shared=False)

    def _build(self) -> ReferenceProfile:
        table = self._table.build()
        outs = self._outputs
        kwargs: dict[str, Any] = {}
        for name in ("prediction", "confidence"):
            if any(v is not None for v in outs[name]):
                cells: list[Any] = []
                for part in output_parts(outs[name], outs["sizes"], None):
                    cells.extend(part.tolist() if hasattr(part, "tolist") else part)
                if len(cells) == table.n_rows:
                    kwargs[name] = cells
        return build_profile(
            table, categorical=[c for c in self._categorical if c in table.parts],
            model_name=self.model, calibrate=False, **kwargs,
        )
