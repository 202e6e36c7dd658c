"""Text for the page: escaping and number formats, one place for both.

Every string that reaches the page goes through :func:`esc` (HTML and SVG
alike); every number through one of the formatters, which render ``None``
(and NaN) as an en dash so a missing value never reads as zero.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

DASH = "\u2013"


def esc(value: Any) -> str:
    """``value`` as text safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt_int(value: Any) -> str:
    x = _finite(value)
    return DASH if x is None else f"{round(x):,}"


def fmt_pct(value: Any, digits: int = 2) -> str:
    """A ratio (0.0123) as a percentage ("1.23 %")."""
    x = _finite(value)
    return DASH if x is None else f"{x * 100:.{digits}f} %"


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits ("0.553", "12.4", "1,234")."""
    x = _finite(value)
    if x is None:
        return DASH
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    if abs(x) < 1e-3:
        return f"{x:.{max(digits - 1, 0)}e}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    return f"{x:.{decimals}f}"


def fmt_ms(value: Any) -> str:
    x = _finite(value)
    return DASH if x is None else f"{fmt_num(x)} ms"


def fmt_bytes(value: Any) -> str:
    x = _finite(value)
    if x is None:
        return DASH
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(x) < 1024 or unit == "GiB":
            return f"{fmt_num(x)} {unit}" if unit != "B" else f"{x:.0f} B"
        x /= 1024
    return DASH  # pragma: no cover - the loop always returns


def fmt_duration(seconds: Any) -> str:
    x = _finite(seconds)
    if x is None:
        return DASH
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x:.0f} s"


def data_attrs(path: list[Any], value: Any) -> str:
    """``data-key``/``data-value`` attributes tying a shown number to its JSON path
    (the browser test reads them back against ``/inferwatch/status``)."""
    return (f' data-key="{esc(json.dumps(path))}"'
            f' data-value="{esc(json.dumps(_finite(value)))}"')
