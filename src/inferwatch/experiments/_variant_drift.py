"""Each variant's drift beside the readout, read from the drift monitors of the monitor.

A drift monitor keeps the rows of each A/B variant apart (its
``variant_key``), so for an experiment watched from a monitor the readout can
say, per variant, whether its inputs and predictions drifted from the
reference, what its predictions look like, and how the treatment's
predictions differ from the control's (PSI and KS, or chi-square for
classes, of the two variants' latest windows): the model-side view of the
treatment beside the business metric. Nothing is read when no drift monitor
is attached (drift is never imported for it), and a drift monitor that fails
to answer is left out, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._monitor import attached_drift_monitors

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = ["drift_lines", "variant_drift"]


def variant_drift(monitor: Monitor, variants: Sequence[str], *, variant_key: str,
                  model: str | None) -> dict[str, dict[str, Any]]:
    """``{variant: drift entry}`` (see ``DriftMonitor.by_variant``) for the experiment's
    variants, the first one the control; from the first drift monitor that has each."""
    out: dict[str, dict[str, Any]] = {}
    control = variants[0] if variants else None
    for dm in attached_drift_monitors(monitor):
        if getattr(dm, "variant_key", None) != variant_key:
            continue  # its variants are named by another attribute
        if model is not None and dm.model is not None and dm.model != model:
            continue
        try:
            entries = dm.by_variant(control, model=model)
        except Exception:  # a readout never fails for drift's sake
            continue
        for variant in variants:
            if variant in entries and variant not in out:
                out[variant] = entries[variant]
    return out


def _num(value: Any, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def drift_lines(drift: dict[str, dict[str, Any]], variants: Sequence[str]) -> list[str]:
    """The per-variant drift for a human, a line per variant."""
    if not drift:
        return []
    lines = ["drift by variant (each variant's latest window against the reference):"]
    for variant in variants:
        entry = drift.get(variant)
        if entry is None:
            lines.append(f"  {variant}: no rows seen by drift")
            continue
        if entry["warming_up"]:
            lines.append(f"  {variant}: reference still warming up")
            continue
        status = entry["status"]
        n = entry["n_drifted"]
        if n:
            status += f" ({n} feature{'s' if n > 1 else ''} drifted)"
        line = (f"  {variant}: {status}, highest feature PSI {_num(entry['psi_max'])}, "
                f"prediction PSI {_num(entry['prediction_psi'])}")
        versus = entry.get("vs_control")
        if versus is not None:
            line += f"; prediction against {versus['control']}: PSI {_num(versus['psi'])}"
            if versus["test"] is not None:
                line += (f", {versus['test']} {_num(versus['statistic'])} "
                         f"(p={_num(versus['pvalue'], '.3g')})")
        lines.append(line)
    return lines
