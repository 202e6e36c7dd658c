"""Quality windows: the last N joined pairs (``"count:1000"``) or the pairs whose
label arrived in the last so long (``"1h"``, ``"time:3600"``, ``"7d"``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .._errors import ConfigurationError

__all__ = ["WindowSpec", "parse_windows"]


@dataclasses.dataclass(frozen=True)
class WindowSpec:
    """``kind`` "count" (pairs) or "time" (seconds); ``name`` as given, normalised."""

    kind: str
    size: float
    name: str


def _usage(text: object) -> str:
    return (f"window {text!r} is not understood; give pairs as 'count:1000' or a duration "
            "as '1h', '30m', '7d' or 'time:3600' (seconds)")


def parse_window(text: object) -> WindowSpec:
    from ..slo._spec import parse_duration

    if not isinstance(text, str):
        raise ConfigurationError(_usage(text))
    raw = text.strip().lower()
    kind, sep, value = raw.partition(":")
    if sep and kind == "count":
        try:
            n = int(value.strip())
        except ValueError:
            raise ConfigurationError(_usage(text)) from None
        if n < 1:
            raise ConfigurationError(f"a count window needs at least 1 pair; {_usage(text)}")
        return WindowSpec("count", n, f"count:{n}")
    if sep and kind == "time":
        value = value.strip()
        try:
            seconds = float(value) if value.replace(".", "", 1).isdigit() else parse_duration(
                value)
        except ValueError:
            raise ConfigurationError(_usage(text)) from None
        if not seconds > 0:
            raise ConfigurationError(_usage(text))
        return WindowSpec("time", seconds, raw)
    if sep:
        raise ConfigurationError(_usage(text))
    try:
        return WindowSpec("time", parse_duration(raw), raw)
    except ValueError:
        raise ConfigurationError(_usage(text)) from None


def parse_windows(window: str | Sequence[str]) -> tuple[WindowSpec, ...]:
    """One window or several (each reported apart, named as written)."""
    items = [window] if isinstance(window, str) else list(window)
    if not items:
        raise ConfigurationError("window: give at least one window, e.g. 'count:1000'")
    specs = tuple(parse_window(item) for item in items)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"window: {', '.join(names)} names a window twice")
    return specs
