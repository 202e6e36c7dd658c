"""The interface every sketch offers, so the aggregator can treat them alike."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

S = TypeVar("S", bound="Sketch")


@runtime_checkable
class Sketch(Protocol):
    """Bounded, mergeable, serialisable summary of a stream.

    ``update_batch`` is the fast path (the aggregator feeds numpy batches off
    the request path); ``merge`` combines sketches of the same configuration
    in place (replicas, windows) and raises ``ValueError`` otherwise;
    ``to_bytes``/``from_bytes`` use the versioned frame in ``_format``.
    """

    @property
    def n(self) -> int:
        """Number of values accepted (not counting dropped NaN/inf/missing)."""
        ...

    def __len__(self) -> int: ...

    def update(self, value: Any) -> None: ...

    def update_batch(self, values: Any) -> None: ...

    def merge(self: S, other: S) -> S: ...

    def to_bytes(self) -> bytes: ...

    @classmethod
    def from_bytes(cls: type[S], data: bytes) -> S: ...
