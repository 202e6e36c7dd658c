"""The drift metrics in the catalogue, and a report turned into metric points.

Series are bounded by the profile: one per (feature, statistic) and per
(feature, quality rate), features being those of the profile plus the two
outputs; unknown feature names are never used as attribute values.
"""

from __future__ import annotations

from .._catalogue import MetricDef, MetricPoint, register
from ._report import NO_DATA, DriftReport, FeatureDrift

_M = ("model.name",)
_F = ("model.name", "feature")

QUALITY_RATES = ("missing", "nan", "inf", "invalid", "out_of_range", "new_category")

register(
    MetricDef("inferwatch.drift.score", "gauge", "1",
              "Drift statistic of a feature or output against the reference "
              "(psi, js, ks, wasserstein, chi_square, mmd).", (*_F, "statistic")),
    MetricDef("inferwatch.drift.pvalue", "gauge", "1",
              "p-value of a feature's drift test, corrected across features.", (*_F, "statistic")),
    MetricDef("inferwatch.drift.status", "gauge", "1",
              "Drift status of a feature or output: 0 ok, 1 warning, 2 drift.", _F),
    MetricDef("inferwatch.drift.features.drifted_share", "gauge", "1",
              "Share of features whose status is drift.", _M),
    MetricDef("inferwatch.drift.weighted_score", "gauge", "1",
              "Importance-weighted share of drifted features.", _M),
    MetricDef("inferwatch.drift.alert", "gauge", "1",
              "1 when any feature or output is past its alert threshold.", _M),
    MetricDef("inferwatch.drift.window.rows", "gauge", "{row}",
              "Rows in the window the drift report is about.", _M),
    MetricDef("inferwatch.data_quality.unknown_features", "gauge", "{feature}",
              "Feature names seen in the window but absent from the reference.", _M),
    MetricDef("inferwatch.data_quality.unreadable_rows", "gauge", "{row}",
              "Rows whose features could not be read in the window.", _M),
    *(
        MetricDef(f"inferwatch.data_quality.{rate}_rate", "gauge", "1",
                  f"Share of the window's rows with a {rate.replace('_', ' ')} value.", _F)
        for rate in QUALITY_RATES
    ),
)


def _feature_points(model: str, fd: FeatureDrift) -> list[MetricPoint]:
    attrs = {"model.name": model, "feature": fd.name}
    out = [
        MetricPoint(f"inferwatch.data_quality.{rate}_rate", dict(attrs), value)
        for rate, value in fd.quality.rates().items()
    ]
    if fd.status == NO_DATA:
        return out
    out.append(MetricPoint("inferwatch.drift.status", dict(attrs), fd.level))
    for stat in fd.statistics.values():
        out.append(MetricPoint("inferwatch.drift.score", {**attrs, "statistic": stat.name},
                               stat.value))
        if stat.adjusted_pvalue is not None:
            out.append(MetricPoint("inferwatch.drift.pvalue", {**attrs, "statistic": stat.name},
                                   stat.adjusted_pvalue))
    return out


def report_points(report: DriftReport) -> list[MetricPoint]:
    """Metric points of one report (what the monitor's collector returns)."""
    model = report.model_name
    attrs = {"model.name": model}
    points = [
        MetricPoint("inferwatch.drift.window.rows", dict(attrs),
                    0 if report.window is None else report.window.rows),
        MetricPoint("inferwatch.data_quality.unknown_features", dict(attrs),
                    len(report.unknown_features)),
        MetricPoint("inferwatch.data_quality.unreadable_rows", dict(attrs), report.unreadable_rows),
    ]
    if report.warming_up:
        return points
    points.append(MetricPoint("inferwatch.drift.features.drifted_share", dict(attrs),
                              report.drifted_share))
    points.append(MetricPoint("inferwatch.drift.alert", dict(attrs), int(report.alert)))
    if report.weighted_score is not None:
        points.append(MetricPoint("inferwatch.drift.weighted_score", dict(attrs),
                                  report.weighted_score))
    for fd in (*report.features.values(), *report.outputs.values()):
        points.extend(_feature_points(model, fd))
    return points
