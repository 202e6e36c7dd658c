"""Drift before quality: each drift window's statistics beside the quality its labels showed.

Drift is a proxy, known as soon as a window closes; quality is the lagging
truth, known once the labels arrive, days later. A stored prediction
remembers the drift window open when it was made (``_windowid``), and the
drift engine keeps a digest of every closed window long after its full
report has left the history (``DriftMonitor.window_digests``: status, the
highest-PSI features). Joined, they say how much drift came before how much
quality loss: "window 3: accuracy 0.712 (-6.2 % against window 0), f03 PSI
0.24".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._monitor import attached_drift_monitors
from ._quality import PRIMARY

if TYPE_CHECKING:
    from ._tracker import LabelTracker

__all__ = ["drift_before_quality"]


def _digests(tracker: LabelTracker) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    monitor = tracker.monitor
    if monitor is None:
        return {}
    out: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for drift in attached_drift_monitors(monitor):
        for d in drift.window_digests():  # each variant's windows are its own
            out.setdefault((d["model"], d["version"], d.get("variant") or "", d["window"]), d)
    return out


def _text(row: dict[str, Any]) -> str:
    value, name = row["value"], row["metric"]
    change = row["change"]
    against = (f" ({change:+.1%} against window {row['baseline_window']})"
               if change is not None and row["window"] != row["baseline_window"] else "")
    head = (f"window {row['window']}: {name} {value:.3f}{against} on {row['pairs']} "
            f"labelled predictions")
    if row["drift_status"] is None:
        return f"{head}; the window's drift is no longer kept (or still open)"
    drifted = ", ".join(f"{f['name']} PSI {f['psi']:.2f}" for f in row["features"][:3]
                        if f["psi"] is not None)
    return f"{head}; drift {row['drift_status']}: {drifted or 'no PSI'}"


def drift_before_quality(tracker: LabelTracker, *, min_pairs: int = 30,
                         source: str = "organic") -> list[dict[str, Any]]:
    """Per model version (and variant) and drift window, oldest first: the primary
    quality measure of the window's labelled predictions (accuracy, or MAE for a
    regressor), its change against the first window with ``min_pairs`` pairs, and
    the drift that window had (status, highest-PSI features, the prediction's PSI).

    Read from the tracker's first quality window (its pairs) and the drift
    monitors attached to its monitor; a window whose digest the drift engine no
    longer keeps (past the last 512 per version) or that is still open shows its
    quality alone. ``text`` says it in a line.
    """
    digests = _digests(tracker)
    metric = PRIMARY[tracker.task.kind]
    out: list[dict[str, Any]] = []
    for row in tracker.quality():
        if row["source"] != source or not row["windows"]:
            continue
        entries = sorted(row["windows"][0].get("by_drift_window") or (),
                         key=lambda e: e["drift_window"])
        entries = [e for e in entries if e.get(metric) is not None]
        baseline = next((e for e in entries if e["pairs"] >= min_pairs), None)
        for e in entries:
            # The variant's own window, else the version's (drift that does not split
            # variants, variant_key=None).
            d = digests.get((row["model"], row["version"], row["variant"] or "",
                             e["drift_window"])) or digests.get(
                (row["model"], row["version"], "", e["drift_window"]))
            value = float(e[metric])
            change = None
            if baseline is not None and e["pairs"] >= min_pairs and baseline[metric]:
                change = value / float(baseline[metric]) - 1.0
            item = {
                "model": row["model"], "version": row["version"], "variant": row["variant"],
                "window": e["drift_window"], "pairs": e["pairs"], "metric": metric,
                "value": value, "change": change,
                "baseline_window": None if baseline is None else baseline["drift_window"],
                "drift_status": None if d is None else d["status"],
                "features": [] if d is None else d["features"],
                "prediction_psi": None if d is None else d["prediction_psi"],
            }
            item["text"] = _text(item)
            out.append(item)
    return out
