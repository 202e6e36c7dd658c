"""Fleet drift: PSI computed by Prometheus from the reference-bin counts every replica exports.

Each replica counts its live rows per feature in the reference profile's
frozen bins (``inferwatch.drift.bin.rows``, attribute ``inferwatch.bin``: the
bin's index, 0 the overflow bin below the reference and the last the one
above) and exports the reference's share of each bin
(``inferwatch.drift.bin.reference``). Plain counts sum exactly across
replicas, so over a window ``w``:

* ``inferwatch:drift_bin_share:ratio_increase<w>``: the fleet's share of the
  window's rows in each bin;
* ``inferwatch:drift_bin_rows:increase<w>``: the fleet's rows per feature;
* ``inferwatch:drift_psi:increase<w>``: ``sum((cur - ref) * ln(cur / ref))``
  with both shares floored at 1e-4, as ``inferwatch.stats.psi`` does, so it
  equals inferwatch's own PSI on the union of the replicas' rows in the
  window (exactly, when the window starts where the counters do).

Every rule keeps ``inferwatch.variant`` apart (empty for rows of no variant,
a label Prometheus then leaves off), so each variant of an A/B test gets its
own fleet PSI against the reference.

The rules are generated only when the catalogue declares both metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._catalogue import METRICS
from ..stats._psi import DEFAULT_EPSILON

if TYPE_CHECKING:
    from ._prometheus import RuleOptions, _Names

__all__ = ["BIN_REFERENCE", "BIN_ROWS", "fleet_drift_rules"]

BIN_ROWS = "inferwatch.drift.bin.rows"
BIN_REFERENCE = "inferwatch.drift.bin.reference"


def fleet_drift_rules(options: RuleOptions, names: _Names) -> list[dict[str, Any]]:
    """The fleet-PSI recording rules and alert, or none without the bin metrics."""
    from ._prometheus import _alert, _number

    if BIN_ROWS not in METRICS or BIN_REFERENCE not in METRICS:
        return []
    rows, reference = names.metric(BIN_ROWS), names.metric(BIN_REFERENCE)
    model, version = names.label("model.name"), names.label("model.version")
    feature, bin_ = names.label("inferwatch.feature"), names.label("inferwatch.bin")
    variant = names.label("inferwatch.variant")
    per_feature = f"{model}, {version}, {variant}, {feature}"
    w = options.psi_window
    window = options.duration(w)
    eps = _number(DEFAULT_EPSILON)
    share, total, psi = (f"inferwatch:drift_bin_share:ratio_increase{w}",
                         f"inferwatch:drift_bin_rows:increase{w}",
                         f"inferwatch:drift_psi:increase{w}")
    counts = f"sum by ({per_feature}, {bin_}) (increase({rows}[{window}]))"
    ref = f"max by ({per_feature}, {bin_}) ({reference})"
    # A bin no replica has counted yet has no series: it is a share of 0, not a missing term.
    cur = f"({share} or {ref} * 0)"
    return [
        {"record": total, "expr": f"sum by ({per_feature}) (increase({rows}[{window}]))"},
        {"record": share,
         "expr": f"{counts}\n/ ignoring ({bin_}) group_left ()\n({total} > 0)"},
        {"record": psi,
         "expr": (f"sum by ({per_feature}) (\n"
                  f"  (clamp_min({cur}, {eps}) - clamp_min({ref}, {eps}))\n"
                  f"  * ln(clamp_min({cur}, {eps}) / clamp_min({ref}, {eps}))\n"
                  f")\nand on ({per_feature}) {total} > 0")},
        _alert(
            "InferwatchFleetFeatureDrift",
            f"{psi} > {_number(options.psi_threshold)}\n"
            f"and on ({per_feature}) {total} >= {options.psi_min_rows}",
            "15m", "P2",
            ("Model {{ $labels.@model }}{{ if $labels.@variant }} (variant "
             "{{ $labels.@variant }}){{ end }}: feature {{ $labels.@feature }} drifted across "
             "the fleet").replace("@model", model).replace("@feature", feature).replace(
                "@variant", variant),
            f"PSI over {w} of every replica's rows together is "
            "{{ $value | printf \"%.3f\" }} (over "
            f"{_number(options.psi_threshold)}, at least {options.psi_min_rows} rows).",
            options),
    ]
