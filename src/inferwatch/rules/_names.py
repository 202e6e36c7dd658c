"""Metric names as they arrive in Prometheus, on both ways in.

Two ways lead from an OTel metric to a Prometheus series, and rules must be
written for the one a deployment uses:

* ``otel-prometheus``: OTel's Prometheus exporter (``PrometheusMetricReader``,
  scraped from each replica). Its rules, from
  ``opentelemetry-exporter-prometheus`` and ``prometheus_client``: runs of
  characters other than letters, digits and ``:`` become ``_``; the mapped
  unit is appended unless the name already ends with it; counters are
  exposed as ``<name>_total``; a histogram bucket's ``le`` is Python's
  ``repr`` of the bound (``1.0``, ``0.3``).
* ``collector``: the OpenTelemetry Collector's OTLP -> Prometheus translation
  (collector-contrib ``pkg/translator/prometheus``: ``normalize_name.go``
  with the NormalizeName feature gate on, its default, and
  ``normalize_label.go``). The name is split into alphanumeric tokens, the
  unit token is added when absent, counters end in ``total`` and gauges of
  unit ``1`` in ``ratio``; ``le`` is Go's shortest ``%g`` form of the bound
  (``1``, ``0.3``), as the Collector's ``prometheus`` exporter writes it.

The catalogue's units are chosen so the metric and label names agree on both
paths (``tests/metric_names.txt`` pins them); the ``le`` of a whole-number
bound does not (``1.0`` against ``1``), which is why the naming scheme is an
option of the rule generator.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "NAMINGS",
    "collector_label",
    "collector_name",
    "exporter_label",
    "exporter_name",
    "le_value",
    "prometheus_label",
    "prometheus_name",
]

#: The naming schemes the rule generator knows.
NAMINGS = ("otel-prometheus", "collector")

# Unit mappings shared by both paths (the exporter's table follows the Collector's).
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week",
              "mo": "month", "y": "year"}


def _check_naming(naming: str) -> None:
    if naming not in NAMINGS:
        raise ValueError(f"unknown naming {naming!r}; use one of {', '.join(NAMINGS)}")


# -- the Collector -----------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """strings.FieldsFunc on runes that are neither letters nor digits."""
    return [t for t in re.split(r"[^0-9A-Za-z]+", text) if t]


def collector_name(name: str, unit: str, kind: str) -> str:
    """The Prometheus name the Collector gives an OTLP metric (with metric suffixes).

    ``kind`` is the OTLP data type as inferwatch declares it: ``counter``
    (monotonic sum), ``updown`` (non-monotonic sum), ``gauge`` or ``histogram``.
    """
    tokens = _tokens(name)
    main, _, per = unit.partition("/")
    main = main.strip()
    if main and "{" not in main and "}" not in main:
        prom = "_".join(_tokens(_UNITS.get(main, main)))
        if prom and prom not in tokens:
            tokens.append(prom)
    per = per.strip()
    if per and "{" not in per and "}" not in per:
        prom = "_".join(_tokens(_PER_UNITS.get(per, per)))
        if prom and prom not in tokens:
            tokens += ["per", prom]
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    if out and out[0].isdigit():
        out = "_" + out
    return out


def collector_label(key: str) -> str:
    """NormalizeLabel: non-alphanumerics to '_', a leading digit or single '_' prefixed."""
    label = re.sub(r"[^0-9A-Za-z]", "_", key)
    if label and label[0].isdigit():
        return "key_" + label
    if label.startswith("_") and not label.startswith("__"):
        return "key" + label
    return label


# -- OTel's Prometheus exporter ------------------------------------------------------


def _exporter_unit(unit: str) -> str:
    unit = re.sub(r"{.*}", "", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    top, slash, bottom = unit.partition("/")
    if slash:
        bottom = re.sub(r"[^a-zA-Z0-9:]+", "_", bottom)
        if bottom:
            top = re.sub(r"[^a-zA-Z0-9:]+", "_", top)
            top = _UNITS.get(top, top)
            bottom = _PER_UNITS.get(bottom, bottom)
            return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return re.sub(r"[^a-zA-Z0-9:]+", "_", unit).strip("_")


def exporter_name(name: str, unit: str, kind: str) -> str:
    """The series name OTel's Prometheus exporter exposes (``<name>_total`` for counters)."""
    if name and name[0].isdigit():
        name = "_" + name[1:]
    out = re.sub(r"[^a-zA-Z0-9:]+", "_", name)
    if kind == "counter" and out.endswith("_total"):
        out = out[: -len("_total")]
    suffix = _exporter_unit(unit)
    if suffix and not out.endswith("_" + suffix):
        out += "_" + suffix
    return out + "_total" if kind == "counter" else out


def exporter_label(key: str) -> str:
    """The exporter's label for an attribute key (a leading digit is replaced by '_')."""
    if key and key[0].isdigit():
        key = "_" + key[1:]
    return re.sub(r"[^a-zA-Z0-9]+", "_", key)


# -- either ----------------------------------------------------------------------------


def prometheus_name(name: str, unit: str, kind: str, naming: str = "otel-prometheus") -> str:
    """The Prometheus series name of a metric under ``naming`` (one of ``NAMINGS``)."""
    _check_naming(naming)
    if naming == "collector":
        return collector_name(name, unit, kind)
    return exporter_name(name, unit, kind)


def prometheus_label(key: str, naming: str = "otel-prometheus") -> str:
    """The Prometheus label name of an attribute key under ``naming``."""
    _check_naming(naming)
    return collector_label(key) if naming == "collector" else exporter_label(key)


def _go_shortest_g(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 64)``."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: the caller handled infinities
    text = "".join(map(str, digits))
    point = len(text) + exponent  # the decimal point's position in the digits
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # shortest form: Go decides with precision 6
        # %e: one digit, the rest as decimals, and a two-digit exponent at least.
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def le_value(bound: float, naming: str = "otel-prometheus") -> str:
    """The ``le`` label value of a histogram bucket bound under ``naming``."""
    _check_naming(naming)
    bound = float(bound)
    if bound == float("inf"):
        return "+Inf"
    if naming == "collector":
        return _go_shortest_g(bound)
    return repr(bound)
