"""Drained records turned into store entries (aggregator thread, once per batch).

Only a successful single-row inference with a readable prediction is
stored. The id is the one a caller sees: the caller's own id when the
record has one (the ``x-request-id`` header, ``@monitor(inference_id=...)``),
else the generated 128-bit id as 32 hex digits — the id the ASGI middleware
echoes in the response header and the log writes as ``inference.id``. When
the monitor pseudonymises inference ids (``inference.id`` or the id header
in ``pii_fields``), the store is keyed by the pseudonym, so the raw id is
never held; ``record_label`` is given the raw id and keys it the same way.

Variant and segment come from the record's attributes (static or per call)
under their configured keys, unless the key is a PII or drop field; a
value holding an email or phone number becomes ``_redacted``, and variants
are capped per model (``_other`` past the cap). The propensity and target
``inferwatch.feedback.set_propensity`` logged are kept for the policy-value
estimates. Nothing else of the record is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._variants import MAX_VARIANTS, VariantReader, readable_key
from ._store import StoredPrediction
from ._task import Task, Unreadable

if TYPE_CHECKING:
    from .._monitor import Monitor
    from .._record import InferenceRecord

__all__ = ["Extractor", "id_keyer"]

#: Distinct segments kept per model (variants: ``MAX_VARIANTS``, as drift keeps them).
MAX_SEGMENTS = 64


def id_keyer(monitor: Monitor) -> Callable[[str], str]:
    """How ``monitor``'s inference ids are keyed in the store (raw, or its pseudonym)."""
    from .._logs import _pseudonymises_id

    pseudonymizer = getattr(monitor, "_pseudonymizer", None)
    if pseudonymizer is not None and _pseudonymises_id(pseudonymizer, ()):
        return pseudonymizer.pseudonym  # type: ignore[no-any-return]
    return _same


def _same(text: str) -> str:
    return text


class Extractor:
    """Reads the fields a join needs from records of the tracked model(s)."""

    def __init__(self, task: Task, *, model: str | None, version: str | None,
                 variant_key: str, segment_key: str, excluded: frozenset[str]) -> None:
        self.task = task
        self.model = model
        self.version = version
        self.variant_key = readable_key(variant_key, excluded)
        self.segment_key = readable_key(segment_key, excluded)
        self._variants = VariantReader(MAX_VARIANTS)
        self._segments = VariantReader(MAX_SEGMENTS)
        #: Records not stored, by reason (exported as inferwatch.self.dropped).
        self.skipped: dict[str, int] = {}
        #: Predictions stored per (model, version, variant): join rates' denominator.
        self.stored: dict[tuple[str, str, str], int] = {}

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def entries(self, records: list[InferenceRecord], key: Callable[[str], str],
                windows: dict[tuple[str, str], int]) -> list[StoredPrediction]:
        out: list[StoredPrediction] = []
        model, version = self.model, self.version
        read = self.task.read
        append = out.append
        stored: dict[tuple[str, str, str], int] = {}
        # Per endpoint (usually one per batch): the static variant and segment.
        last: Any = None
        static: tuple[str | None, str | None] = (None, None)
        for record in records:
            endpoint = record.endpoint
            if endpoint is not last:
                last = endpoint
                skip = (model is not None and endpoint.model_name != model) or (
                    version is not None and endpoint.model_version != version)
                name, ver = endpoint.model_name, endpoint.model_version
                window = windows.get((name, ver))
                static = (self._value(endpoint, None, self.variant_key, self._variants),
                          self._value(endpoint, None, self.segment_key, self._segments))
            if skip or record.outcome != "ok" or record.prediction is None:
                continue
            if record.batch_size != 1:
                self._skip("label_store_batch_record")
                continue
            try:
                prediction, score, confidence = read(record.prediction, record.confidence)
            except Unreadable:
                self._skip("label_store_unreadable_prediction")
                continue
            attrs = record.attributes
            if attrs:
                variant = self._value(endpoint, attrs, self.variant_key, self._variants)
                segment = self._value(endpoint, attrs, self.segment_key, self._segments)
            else:
                variant, segment = static
            entry = StoredPrediction(key(record.id), name, ver, prediction, score, confidence,
                                     record.timestamp_ns / 1e9)
            # The window the drift engine put the record's rows in (it reads each batch
            # first), else the one open now.
            tagged = getattr(record, "drift_window", window)
            if variant is not None or segment is not None or tagged is not None:
                entry.variant, entry.segment, entry.window = variant, segment, tagged
            logged = getattr(record, "_policy", None)  # set_propensity ran
            if logged is not None and logged[0] is not None:
                propensity, target = logged[0], logged[2]
                entry.policy = (propensity, propensity if target is None else target)
            append(entry)
            series = (name, ver, variant or "")
            stored[series] = stored.get(series, 0) + 1
        for series, n in stored.items():
            self.stored[series] = self.stored.get(series, 0) + n
        return out

    def _value(self, endpoint: Any, attrs: dict[str, Any] | None, key: str | None,
               reader: VariantReader) -> str | None:
        if key is None:
            return None
        value = attrs.get(key) if attrs else None
        if value is None:
            value = endpoint.attributes.get(key)
        return reader.name(endpoint.model_name, value) or None
