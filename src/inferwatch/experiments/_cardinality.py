"""Bounded cardinality for the ``variant`` and segment attributes.

A variant or segment name becomes a metric attribute, so it must not grow
without bound: the first ``limit`` distinct names are kept, later ones are
counted as ``_other``. Names declared up front (an experiment's variants)
are always kept. Text is made fit for a series the way every other
attribute is: cut at 256 characters, and anything that looks like an email
address or a phone number becomes ``_redacted``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .._aggregate import OTHER, metric_text
from .._errors import ConfigurationError

__all__ = ["DEFAULT_MAX_VARIANTS", "OTHER", "ValueCap"]

#: Distinct variants kept by default (an experiment rarely has more than a few).
DEFAULT_MAX_VARIANTS = 16


class ValueCap:
    """At most ``limit`` distinct names; later ones become ``_other`` (counted).

    ::

        cap = ValueCap(16, reserved=("control", "treatment"))
        attributes["variant"] = cap(variant)

    Thread-safe; a name already admitted costs one dict lookup and takes no
    lock, so it is cheap enough for the request path.
    """

    def __init__(self, limit: int = DEFAULT_MAX_VARIANTS, *, reserved: Iterable[str] = (),
                 other: str = OTHER) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"the cap must be an integer >= 1, got {limit!r}")
        self.limit = limit
        self.other = other
        #: Names refused because the cap was reached.
        self.overflowed = 0
        self._lock = threading.Lock()
        # Raw text -> the name it counts under (a memo, bounded); the names themselves.
        self._kept: dict[str, str] = {}
        self._names: dict[str, None] = {}
        for name in reserved:
            self._kept[name] = name
            self._names[name] = None
        self._memo_limit = 4 * limit
        if len(self._names) > limit:
            raise ConfigurationError(
                f"{len(self._kept)} reserved names exceed the cap of {limit}; raise the cap"
            )

    def __call__(self, value: object) -> str:
        """``value`` as text if it is one of the first ``limit`` names, else ``_other``."""
        if type(value) is str:
            kept = self._kept.get(value)
            if kept is not None:
                return kept
            text = value
        else:
            text = str(value)
            kept = self._kept.get(text)
            if kept is not None:
                return kept
        return self._admit(text)

    def _admit(self, text: str) -> str:
        clean, _ = metric_text(text)
        with self._lock:
            kept = self._kept.get(text)
            if kept is not None:
                return kept
            if clean not in self._names:
                if len(self._names) >= self.limit:
                    self.overflowed += 1
                    return self.other
                self._names[clean] = None
            # Many raw texts can share one name (every email is '_redacted'):
            # the memo stays bounded, past it each such text is cleaned again.
            if len(self._kept) < self._memo_limit:
                self._kept[text] = clean
            return clean

    @property
    def names(self) -> tuple[str, ...]:
        """The names kept so far, in admission order (redacted forms included)."""
        return tuple(self._names)
