"""The drift part of the status document: per model version (and variant), worst first.

Reads :class:`inferwatch.drift.DriftMonitor` reports (the last closed window,
the open one until a window has closed) and, for the prediction chart, the
reference bins of the profile and the same window's counts on them. Only
aggregates leave here: statuses, statistics, rates and bin counts. Category
values (a new category may be an e-mail address) and unknown feature names
never do: they are counted, not named.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._format import _finite

_LEVELS = {"ok": 0, "warning": 1, "drift": 2}
_RATES = ("missing", "nan", "inf", "invalid", "out_of_range", "new_category")


def _feature(fd: Any) -> dict[str, Any]:
    stats = {name: s for name, s in fd.statistics.items()}
    test = next((stats[n] for n in ("ks", "chi_square", "mmd") if n in stats), None)
    quality = fd.quality
    rates = quality.rates()
    return {
        "name": str(fd.name),
        "kind": str(fd.kind),
        "status": str(fd.status),
        "level": int(fd.level),
        "alert": bool(fd.alert),
        "decided_by": str(fd.decided_by),
        "psi": _finite(fd.score("psi")),
        "js": _finite(fd.score("js")),
        "test": None if test is None else str(test.name),
        "test_statistic": None if test is None else _finite(test.value),
        "pvalue": None if test is None else _finite(test.adjusted_pvalue),
        "n_reference": int(fd.n_reference),
        "n_current": int(fd.n_current),
        "rows": int(quality.rows),
        "rates": {name: _finite(rates.get(name)) or 0.0 for name in _RATES},
        "new_categories": len(quality.new_categories),  # how many, never which
    }


def _worst_first(features: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(features, key=lambda f: (-f["level"], -(f["psi"] or 0.0), f["name"]))


def _stream(dm: Any, key: tuple[str, ...]) -> Any:
    """The stream behind ``reports()[key]``."""
    streams = getattr(dm, "_streams", {})
    return streams.get(key)


def _window_state(stream: Any) -> Any:
    """The window the report is about: the last closed one, else the open one."""
    windows = getattr(stream, "_windows", None)
    if windows is None:
        return None
    if windows.closed:
        return windows.closed[-1]
    windows.open.fold()  # staged columns into the sketches, as the open report does
    return windows.open


def _histogram(dm: Any, key: tuple[str, ...]) -> dict[str, Any] | None:
    """Reference and current counts of the prediction on the reference's bins."""
    stream = _stream(dm, key)
    profile = getattr(stream, "profile", None)
    if profile is None:
        return None
    reference = profile.outputs.get("prediction")
    if reference is None:
        return None
    window = _window_state(stream)
    current = None if window is None else window.outputs.get("prediction")
    ref_counts = getattr(reference, "counts", None)
    if ref_counts is not None:  # numeric: frozen quantile bins plus two overflow bins
        edges = [float(e) for e in ref_counts.edges]
        cur = getattr(current, "counts", None)
        cur_counts = [0] * (len(edges) + 1) if cur is None else [int(c) for c in cur.counts]
        return {"kind": "numeric", "edges": edges,
                "reference": [int(c) for c in ref_counts.counts], "current": cur_counts}
    ref_topk = getattr(reference, "topk", None)
    if ref_topk is None:
        return None
    # Classes: the reference's top classes by name (they come from the training
    # data, not from requests), everything else together as "other".
    classes = list(ref_topk.counts)[:12]
    cur_topk = getattr(current, "topk", None)
    cur_map = {} if cur_topk is None else cur_topk.counts
    ref_map = ref_topk.counts
    return {
        "kind": "class",
        "labels": [str(c) for c in classes] + ["other"],
        "reference": [int(ref_map[c]) for c in classes] + [
            int(ref_topk.n - sum(ref_map[c] for c in classes))],
        "current": [int(cur_map.get(c, 0)) for c in classes] + [
            int((0 if cur_topk is None else cur_topk.n)
                - sum(cur_map.get(c, 0) for c in classes))],
    }


def _report(report: Any, histogram: dict[str, Any] | None) -> dict[str, Any]:
    window = report.window
    features = _worst_first(_feature(fd) for fd in report.features.values())
    outputs = {name: _feature(fd) for name, fd in report.outputs.items()}
    multi = report.multivariate
    return {
        "model": str(report.model_name),
        "version": str(report.model_version),
        "variant": str(getattr(report, "variant", "")),
        "status": str(report.status),
        "alert": bool(report.alert),
        "warming_up": bool(report.warming_up),
        "warmup_rows": int(report.warmup_rows),
        "window": None if window is None else {
            "index": int(window.index), "spec": str(window.spec), "rows": int(window.rows),
            "complete": bool(window.complete),
        },
        "n_features": len(report.features),
        "n_drifted": int(report.n_drifted),
        "drifted_share": _finite(report.drifted_share),
        "features": features,
        "outputs": outputs,
        "multivariate": None if multi is None else _feature(multi),
        "unknown_features": len(report.unknown_features),  # how many, never their names
        "missing_features": len(report.missing_features),
        "unreadable_rows": int(report.unreadable_rows),
        "prediction_histogram": histogram,
    }


def drift_section(drift_monitors: Iterable[Any]) -> list[dict[str, Any]]:
    """One entry per (drift monitor, model version, variant), worst status first."""
    out: list[dict[str, Any]] = []
    for dm in drift_monitors:
        reports = dm.reports()
        if not reports and dm._profile is not None:
            reports = {("", ""): dm.report()}  # nothing seen yet: the empty report
        for key, report in reports.items():
            with dm._lock:
                try:
                    histogram = _histogram(dm, key)
                except Exception:  # the chart is optional; the report still shows
                    histogram = None
                stream = _stream(dm, key)
                closed = dict(getattr(stream, "closed_by_status", None) or {})
            entry = _report(report, histogram)
            entry["windows_closed"] = {str(k): int(v) for k, v in closed.items()}
            out.append(entry)
    out.sort(key=lambda r: (-_LEVELS.get(r["status"], -1), r["model"], r["version"],
                            r["variant"]))
    return out
