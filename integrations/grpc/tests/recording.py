"""``capture()`` that also sees the records of RPCs that are not inferences.

``inferwatch.testing.Capture.records`` shows what feature consumers (drift) see:
inferences only. An RPC that never reached a monitored predict is still
recorded, for the RPC metrics and logs, and these tests look at it: records
are taken as the interceptor submits them (and, for a predict's own records
outside any RPC, as they are drained).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from inferwatch import InferenceRecord
from inferwatch.testing import Capture
from inferwatch.testing import capture as _capture

__all__ = ["Recorded", "capture"]


class Recorded:
    """A ``Capture`` whose ``records`` are every record submitted, inference or not."""

    def __init__(self, cap: Capture) -> None:
        self.cap = cap
        self.monitor = cap.monitor
        self._seen: list[InferenceRecord] = []
        self._ids: set[int] = set()
        submit = cap.monitor.submit

        def submitted(record: InferenceRecord) -> None:
            self._add(record)
            submit(record)

        # A fresh monitor per capture(): patching the instance touches nothing else.
        cap.monitor.submit = submitted  # type: ignore[method-assign]
        def drained(records: list[InferenceRecord]) -> None:
            for record in records:
                self._add(record)

        cap.monitor.add_feature_consumer(drained)

    def _add(self, record: InferenceRecord) -> None:
        if id(record) not in self._ids:
            self._ids.add(id(record))
            self._seen.append(record)

    @property
    def records(self) -> list[InferenceRecord]:
        self.monitor.flush(logs=False)
        return list(self._seen)

    @property
    def inferences(self) -> list[InferenceRecord]:
        """What drift sees: ``Capture.inferences``."""
        return self.cap.inferences

    @property
    def logs(self) -> list[dict[str, Any]]:
        return self.cap.logs

    def value(self, name: str, **attributes: Any) -> Any:
        return self.cap.value(name, **attributes)

    def metrics(self, name: str | None = None) -> Any:
        return self.cap.metrics(name)


@contextlib.contextmanager
def capture(**options: Any) -> Iterator[Recorded]:
    with _capture(**options) as cap:
        yield Recorded(cap)
