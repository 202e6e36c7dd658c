"""A record attribute that names a series (the A/B variant, a segment): cleaned and capped.

The drift engine and the label join read a call's variant (and the label
join its segment) the same way, with this reader: the record's attribute
under the configured key (set per call with ``inferwatch.set_attribute``,
else the endpoint's static attributes); numbers and booleans as their
text, free text cut and cleared of e-mail addresses and phone numbers
(``_redacted``), a structured value ``_redacted``, and at most ``limit``
distinct values per model name, later ones counted together as ``_other``.
A record without one has ``""``. A key among the monitor's ``pii_fields``
or ``drop_fields`` is never read (:func:`readable_key`). Used on the
aggregator thread only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ._aggregate import REDACTED, DistinctValues, metric_text

__all__ = ["MAX_VARIANTS", "NO_VARIANT", "VariantReader", "readable_key"]

#: Distinct variants kept apart per model (drift and the label join alike).
MAX_VARIANTS = 16
#: The variant of a record that names none.
NO_VARIANT = ""
#: Raw variant texts whose cleaned, capped name is remembered (the request path
#: never sees this: it saves the aggregator a PII scan per record).
_MEMO = 1024


def readable_key(key: str | None, excluded: Iterable[str]) -> str | None:
    """``key``, or None when it names a PII or dropped field (compared lower-cased)."""
    if key is None:
        return None
    return None if key.lower() in {str(name).lower() for name in excluded} else key


class VariantReader:
    """The series value of a record's attribute (its variant, its segment), capped per
    model; the caller serialises its use (the drift monitor's lock, the tracker's)."""

    def __init__(self, limit: int = MAX_VARIANTS) -> None:
        self._cap = DistinctValues(limit)
        self._memo: dict[tuple[str, str], str] = {}

    @property
    def overflowed(self) -> int:
        """Variant values counted as ``_other`` because the cap was reached."""
        return self._cap.overflowed

    def static(self, endpoint: Any, key: str) -> str:
        """The endpoint's own variant (its static attributes), ``""`` when it has none."""
        return self.name(endpoint.model_name, endpoint.attributes.get(key))

    def name(self, model: str, value: Any) -> str:
        """The series name of an attribute value of ``model``'s records (``""``: none)."""
        if value is None:
            return NO_VARIANT
        if type(value) is str:
            if not value:
                return NO_VARIANT
            memo = self._memo.get((model, value))
            if memo is not None:
                return memo
            text, _ = metric_text(value)
            admitted = str(self._cap.admit(model, text))
            # Admission is for good (a kept name stays kept, a refused one stays
            # _other), so the answer can be remembered.
            if len(self._memo) < _MEMO:
                self._memo[(model, value)] = admitted
            return admitted
        if isinstance(value, (bool, int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                return NO_VARIANT
            text = str(value)
        else:
            text = REDACTED  # a structured value's text shows the fields inside it
        return str(self._cap.admit(model, text))
