"""Inline SVG charts drawn from the status document (no script, nothing fetched).

Each chart scales to its container through its ``viewBox``, carries a
``<title>`` for screen readers, and says in text what its colours say.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from ._format import esc, fmt_num, fmt_pct

REFERENCE = "#9aa5b1"
CURRENT = "#2563eb"
STATUS_COLOURS = {"ok": "#15803d", "warning": "#b45309", "drift": "#b91c1c",
                  "failing": "#b91c1c", "degraded": "#b45309", "healthy": "#15803d"}


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def bin_labels(edges: Sequence[float]) -> list[str]:
    labels = [f"< {fmt_num(edges[0], 2)}"]
    labels += [f"{fmt_num(lo, 2)}\u2013{fmt_num(hi, 2)}" for lo, hi in pairwise(edges)]
    labels.append(f"\u2265 {fmt_num(edges[-1], 2)}")
    return labels


def histogram_pair(title: str, labels: Sequence[str], reference: Sequence[int],
                   current: Sequence[int]) -> str:
    """Reference (grey) and current (blue) shares per bin, side by side."""
    # Overflow bins with nothing in either are left out: they are most of the
    # time empty and would only squeeze the rest.
    keep = [i for i in range(len(labels)) if reference[i] or current[i]] or list(
        range(len(labels)))
    labels = [labels[i] for i in keep]
    ref = [_shares(reference)[i] for i in keep]
    cur = [_shares(current)[i] for i in keep]
    width, height, left, bottom, top = 640, 230, 44, 58, 26
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([*ref, *cur, 0.01])
    step = plot_w / max(len(labels), 1)
    bar = step * 0.38
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):  # three gridlines with their share
        y = top + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'class="axis">{esc(fmt_pct(peak * frac, 0))}</text>')
    for i, label in enumerate(labels):
        x0 = left + i * step + step * 0.1
        for j, (share, colour, name) in enumerate(
                ((ref[i], REFERENCE, "reference"), (cur[i], CURRENT, "current"))):
            h = plot_h * share / peak
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{esc(name)} {esc(label)}: '
                f'{esc(fmt_pct(share, 1))}</title></rect>')
        cx = left + i * step + step / 2
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="end" '
                     f'class="axis" transform="rotate(-35 {cx:.1f} {top + plot_h + 14})">'
                     f"{esc(label)}</text>")
    parts.append(
        f'<rect x="{left}" y="6" width="12" height="12" fill="{REFERENCE}"/>'
        f'<text x="{left + 17}" y="16" class="legend">reference</text>'
        f'<rect x="{left + 100}" y="6" width="12" height="12" fill="{CURRENT}"/>'
        f'<text x="{left + 117}" y="16" class="legend">current window</text>')
    parts.append("</svg>")
    return "".join(parts)


def meter(fraction: float | None, *, label: str, colour: str = CURRENT,
          marks: Sequence[float] = (), width: int = 140) -> str:
    """A horizontal bar filled to ``fraction`` (0..1, clamped), with tick marks."""
    f = 0.0 if fraction is None else min(max(fraction, 0.0), 1.0)
    ticks = "".join(f'<line x1="{m * width:.1f}" x2="{m * width:.1f}" y1="0" y2="12" '
                    'stroke="#111827" stroke-width="1"/>' for m in marks)
    return (f'<svg class="meter" viewBox="0 0 {width} 12" width="{width}" height="12" '
            f'role="img" aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{esc(label)}</title>"
            f'<rect width="{width}" height="12" rx="2" fill="#e5e7eb"/>'
            f'<rect width="{f * width:.1f}" height="12" rx="2" fill="{colour}"/>{ticks}</svg>')


def light(status: str, text: str) -> str:
    """A status light: a coloured disc with a symbol in it (the word goes beside it)."""
    colour = STATUS_COLOURS.get(status, "#6b7280")
    symbol = {"ok": "\u2713", "healthy": "\u2713", "warning": "!", "degraded": "!",
              "drift": "\u2715", "failing": "\u2715"}.get(status, "?")
    return (f'<svg class="light" viewBox="0 0 24 24" width="24" height="24" role="img" '
            f'aria-label="{esc(text)}" xmlns="http://www.w3.org/2000/svg">'
            f'<circle cx="12" cy="12" r="11" fill="{colour}"/>'
            f'<text x="12" y="17" text-anchor="middle" fill="#fff" font-size="14" '
            f'font-weight="700">{esc(symbol)}</text></svg>')
