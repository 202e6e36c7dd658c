"""The drift metrics in the catalogue, and a model version's reports turned into points.

Series are bounded by the profile: one per (model version, feature, statistic),
per (model version, feature, quality rate) and per (model version, numeric
feature, reference bin) for at most ``fleet_bins`` features, features being
those of the profile plus the two outputs; unknown feature names are never
used as attribute values. Every series also carries ``inferwatch.variant``
(the A/B variant, capped per model; ``""`` for rows of no variant), the
attribute the label and experiment metrics use. The gauges show the last
closed window (the open one until a window has closed);
``inferwatch.drift.windows`` counts every closed window by status and
``inferwatch.drift.window.index`` says which window the gauges show, so
windows that closed between two exports are never missed.

Dimensionless gauges use a curly-brace unit (``{ratio}``, ``{status}``), read
as 1 by UCUM, so their Prometheus names are the same through OTel's
Prometheus exporter and through the Collector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._catalogue import VARIANT, MetricDef, MetricPoint, register
from ._report import NO_DATA, DriftReport, FeatureDrift

if TYPE_CHECKING:
    from ._stream import Stream

FEATURE = "inferwatch.feature"
BIN = "inferwatch.bin"
STATISTIC = "inferwatch.statistic"
STATUS = "inferwatch.drift.status"

_M = ("model.name", "model.version", VARIANT)
_F = (*_M, FEATURE)

QUALITY_RATES = ("missing", "nan", "inf", "invalid", "out_of_range", "new_category")

register(
    MetricDef("inferwatch.drift.score", "gauge", "{statistic}",
              "Drift statistic of a feature or output against the reference "
              "(psi, js, ks, wasserstein, chi_square, mmd).", (*_F, STATISTIC)),
    MetricDef("inferwatch.drift.pvalue", "gauge", "{probability}",
              "p-value of a feature's drift test, corrected across features.", (*_F, STATISTIC)),
    MetricDef("inferwatch.drift.status", "gauge", "{status}",
              "Drift status of a feature or output: 0 ok, 1 warning, 2 drift.", _F),
    MetricDef("inferwatch.drift.multivariate.score", "gauge", "{statistic}",
              "Multivariate drift of the numeric features together (MMD², standardised "
              "by the reference).", (*_M, STATISTIC)),
    MetricDef("inferwatch.drift.multivariate.pvalue", "gauge", "{probability}",
              "Permutation p-value of the multivariate drift test.", (*_M, STATISTIC)),
    MetricDef("inferwatch.drift.multivariate.status", "gauge", "{status}",
              "Multivariate drift status: 0 ok, 1 warning, 2 drift.", _M),
    MetricDef("inferwatch.drift.features.drifted_share", "gauge", "{ratio}",
              "Share of features whose status is drift.", _M),
    MetricDef("inferwatch.drift.weighted_score", "gauge", "{ratio}",
              "Importance-weighted share of drifted features (equal weights without "
              "importances).", _M),
    MetricDef("inferwatch.drift.alert", "gauge", "{status}",
              "1 when any feature or output is past its alert threshold.", _M),
    MetricDef("inferwatch.drift.window.rows", "gauge", "{row}",
              "Rows in the window the drift gauges are about.", _M),
    MetricDef("inferwatch.drift.window.index", "gauge", "{window}",
              "Index of the window the drift gauges are about (0, 1, ... per model version "
              "and variant).",
              _M),
    MetricDef("inferwatch.drift.windows", "counter", "{window}",
              "Closed drift windows by status (ok, warning, drift, no_data).", (*_M, STATUS)),
    MetricDef("inferwatch.drift.bin.rows", "counter", "{row}",
              "Live rows of a numeric feature or output per reference bin (inferwatch.bin: "
              "0 below the reference, then its bins, the last above it), since the process "
              "started; summed over replicas, Prometheus computes the fleet's PSI from it.",
              (*_F, BIN)),
    MetricDef("inferwatch.drift.bin.reference", "gauge", "{ratio}",
              "The reference profile's share of a numeric feature or output's rows per bin.",
              (*_F, BIN)),
    MetricDef("inferwatch.data_quality.unknown_features", "gauge", "{feature}",
              "Feature names seen in the window but absent from the reference.", _M),
    MetricDef("inferwatch.data_quality.unreadable_rows", "gauge", "{row}",
              "Rows whose features could not be read in the window.", _M),
    *(
        MetricDef(f"inferwatch.data_quality.{rate}_rate", "gauge", "{ratio}",
                  f"Share of the window's rows with a {rate.replace('_', ' ')} value.", _F)
        for rate in QUALITY_RATES
    ),
)


def _feature_points(base: dict[str, str], fd: FeatureDrift) -> list[MetricPoint]:
    attrs = {**base, FEATURE: fd.name}
    out = [
        MetricPoint(f"inferwatch.data_quality.{rate}_rate", dict(attrs), value)
        for rate, value in fd.quality.rates().items()
    ]
    if fd.status == NO_DATA:
        return out
    out.append(MetricPoint("inferwatch.drift.status", dict(attrs), fd.level))
    for stat in fd.statistics.values():
        out.append(MetricPoint("inferwatch.drift.score", {**attrs, STATISTIC: stat.name},
                               stat.value))
        if stat.adjusted_pvalue is not None:
            out.append(MetricPoint("inferwatch.drift.pvalue", {**attrs, STATISTIC: stat.name},
                                   stat.adjusted_pvalue))
    return out


def report_points(report: DriftReport) -> list[MetricPoint]:
    """Gauge points of one report."""
    attrs = {"model.name": report.model_name, "model.version": report.model_version,
             VARIANT: report.variant}
    window = report.window
    points = [
        MetricPoint("inferwatch.drift.window.rows", dict(attrs),
                    0 if window is None else window.rows),
        MetricPoint("inferwatch.data_quality.unknown_features", dict(attrs),
                    len(report.unknown_features)),
        MetricPoint("inferwatch.data_quality.unreadable_rows", dict(attrs), report.unreadable_rows),
    ]
    if window is not None:
        points.append(MetricPoint("inferwatch.drift.window.index", dict(attrs), window.index))
    if report.warming_up:
        return points
    points.append(MetricPoint("inferwatch.drift.features.drifted_share", dict(attrs),
                              report.drifted_share))
    points.append(MetricPoint("inferwatch.drift.alert", dict(attrs), int(report.alert)))
    if report.weighted_score is not None:
        points.append(MetricPoint("inferwatch.drift.weighted_score", dict(attrs),
                                  report.weighted_score))
    multi = report.multivariate
    if multi is not None and multi.status != NO_DATA:
        points.append(MetricPoint("inferwatch.drift.multivariate.status", dict(attrs),
                                  multi.level))
        for stat in multi.statistics.values():
            named = {**attrs, STATISTIC: stat.name}
            points.append(MetricPoint("inferwatch.drift.multivariate.score", named, stat.value))
            if stat.adjusted_pvalue is not None:
                points.append(MetricPoint("inferwatch.drift.multivariate.pvalue", dict(named),
                                          stat.adjusted_pvalue))
    for fd in (*report.features.values(), *report.outputs.values()):
        points.extend(_feature_points(attrs, fd))
    return points


def stream_points(stream: Stream) -> list[MetricPoint]:
    """One model version's (or variant's) points: its current report's gauges, its window
    counts, and its live rows per reference bin."""
    points = report_points(stream.report("auto"))
    attrs = {"model.name": stream.model, "model.version": stream.version,
             VARIANT: stream.variant}
    for status, n in stream.closed_by_status.items():
        points.append(MetricPoint("inferwatch.drift.windows", {**attrs, STATUS: status}, n))
    for feature, (rows, shares) in stream.bin_rows().items():
        for i in range(rows.size):
            named = {**attrs, FEATURE: feature, BIN: str(i)}
            points.append(MetricPoint("inferwatch.drift.bin.rows", named, int(rows[i])))
            points.append(MetricPoint("inferwatch.drift.bin.reference", dict(named),
                                      float(shares[i])))
    return points
