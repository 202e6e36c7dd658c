"""The variants of an A/B test side by side: each one's drift, prediction, and against control.

Read from the sketches the streams keep anyway, from the window each
variant's report is about (its last closed window, the open one before any
closed): no row is kept for it. A treatment's prediction is compared with the
control's as drift compares a window with the reference: PSI on the
reference's bins (when both streams share them: one profile) and KS with its
p-value for a numeric prediction; PSI and chi-square on the aligned class
counts for a class prediction. The two windows are each variant's own, so
they may cover different stretches of time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._compare import categorical_stats, numeric_stats
from ._feature_profile import CategoricalProfile
from ._report import DriftReport, Statistic, trouble
from ._window import CategoricalState, NumericState, State

if TYPE_CHECKING:
    from ._stream import Stream

__all__ = ["prediction_summary", "variant_entries", "versus"]

#: Reference classes named in a class prediction's summary (the rest are "other").
_CLASSES = 12
_QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _prediction(stream: Stream) -> tuple[State | None, Any]:
    window = stream.reported_window()
    state = None if window is None else window.outputs.get("prediction")
    profile = stream.profile
    return state, None if profile is None else profile.outputs.get("prediction")


def prediction_summary(state: State | None, reference: Any) -> dict[str, Any] | None:
    """A window's prediction in a few numbers: quantiles and mean, or class shares.

    Classes are named by the reference (they come from the training data,
    never from requests); classes it does not know are counted as "other".
    """
    if isinstance(state, NumericState):
        out: dict[str, Any] = {"kind": "numeric", "n": state.n}
        if not state.n:
            return out
        try:
            values, cumulative = state.sorted_view()
        except ValueError:  # nothing finite in the window
            return out
        total = float(cumulative[-1]) if cumulative.size else 0.0
        if total <= 0:
            return out
        weights = np.diff(cumulative, prepend=0.0)
        out["mean"] = _finite(float(np.dot(values, weights) / total))
        for name, q in _QUANTILES.items():
            index = min(int(np.searchsorted(cumulative, q * total)), values.size - 1)
            out[name] = _finite(float(values[index]))
        return out
    if isinstance(state, CategoricalState):
        n = state.topk.n
        classes = (list(reference.topk.counts)[:_CLASSES]
                   if isinstance(reference, CategoricalProfile) else [])
        counts = state.topk.counts
        shares = {str(c): (counts.get(c, 0) / n if n else 0.0) for c in classes}
        return {"kind": "class", "n": n, "shares": shares,
                "other": (1.0 - sum(shares.values())) if n else 0.0}
    return None


def versus(control: Stream, treatment: Stream) -> dict[str, Any] | None:
    """``treatment``'s prediction against ``control``'s (None without a prediction on both)."""
    ctrl, _ = _prediction(control)
    treat, _ = _prediction(treatment)
    stats: dict[str, Statistic]
    if isinstance(ctrl, NumericState) and isinstance(treat, NumericState):
        same_bins = (ctrl.counts is not None and treat.counts is not None
                     and np.array_equal(ctrl.counts.edges, treat.counts.edges))
        stats = numeric_stats(ctrl.counts if same_bins else None, ctrl, None,
                              treat.counts if same_bins else None, treat, ("ks",))
    elif isinstance(ctrl, CategoricalState) and isinstance(treat, CategoricalState):
        stats = categorical_stats(ctrl.topk, treat.topk, ("chi_square",))
    else:
        return None
    test = stats.get("ks") or stats.get("chi_square")
    psi = stats.get("psi")
    return {
        "control": control.variant, "rows": treat.n, "control_rows": ctrl.n,
        "psi": None if psi is None else _finite(psi.value),
        "test": None if test is None else test.name,
        "statistic": None if test is None else _finite(test.value),
        "pvalue": None if test is None else _finite(test.pvalue),
    }


def _entry(stream: Stream, report: DriftReport) -> dict[str, Any]:
    window = report.window
    psis = [v for v in (_finite(fd.score("psi")) for fd in report.features.values())
            if v is not None]
    pred = report.prediction
    state, reference = _prediction(stream)
    return {
        "model": stream.model, "version": stream.version, "status": report.status,
        "warming_up": report.warming_up,
        "window": None if window is None else window.index,
        "rows": 0 if window is None else window.rows,
        "n_drifted": report.n_drifted,
        "psi_max": max(psis) if psis else None,
        "prediction_psi": None if pred is None else _finite(pred.score("psi")),
        "prediction_status": None if pred is None else pred.status,
        "prediction": prediction_summary(state, reference),
    }


def variant_entries(streams: Iterable[Stream], control: str | None) -> dict[str, dict[str, Any]]:
    """One entry per variant (its worst stream), each against ``control`` when given."""
    chosen: dict[str, tuple[Stream, DriftReport]] = {}
    for stream in streams:
        report = stream.report("auto")
        kept = chosen.get(stream.variant)
        if kept is None or trouble(report) > trouble(kept[1]):
            chosen[stream.variant] = (stream, report)
    base = chosen.get(control) if control is not None else None
    out: dict[str, dict[str, Any]] = {}
    for variant, (stream, report) in sorted(chosen.items()):
        entry = _entry(stream, report)
        if control is not None and variant != control:
            entry["vs_control"] = None if base is None else versus(base[0], stream)
        out[variant] = entry
    return out
