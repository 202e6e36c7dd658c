"""Which drift window is open for each model version, read once per drained batch.

A stored prediction remembers the drift window that was open when it was
stored, so quality measured once its label arrives can be set beside the
drift that window had. Drift is never imported for it: with no drift
monitor attached there are no windows (None).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._monitor import attached_drift_monitors

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = ["open_windows"]


def open_windows(monitor: Monitor) -> dict[tuple[str, str], int]:
    """``{(model, version): index of the open drift window}`` for ``monitor``'s drift."""
    out: dict[tuple[str, str], int] = {}
    for drift in attached_drift_monitors(monitor):
        lock = getattr(drift, "_lock", None)
        streams: Any = getattr(drift, "_streams", None)
        if lock is None or not isinstance(streams, dict):
            continue
        with lock:
            for key, stream in streams.items():
                windows = getattr(stream, "_windows", None)
                index = getattr(getattr(windows, "open", None), "index", None)
                if isinstance(index, int):
                    out.setdefault(key, index)
    return out
