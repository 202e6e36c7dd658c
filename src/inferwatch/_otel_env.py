"""OpenTelemetry's environment variables, read from the mapping a Monitor was given.

The OTel SDK reads ``os.environ`` itself; inferwatch reads the variables from
the ``environ=`` mapping (``os.environ`` by default) and passes every setting
to the exporters explicitly, so a Monitor built with its own environment
exports exactly where that environment says. Covered, with the per-signal
variant (``..._METRICS_...`` / ``..._LOGS_...``) winning over the general one:

* ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf`` (default) or ``grpc``
  (needs the ``otlp-grpc`` extra; HTTP the ``otlp`` extra);
* ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL: ``/v1/metrics`` is appended for
  HTTP), ``..._HEADERS``, ``..._TIMEOUT`` (seconds, as the Python SDK reads
  it), ``..._COMPRESSION``, ``..._INSECURE`` (gRPC), ``..._CERTIFICATE``,
  ``..._CLIENT_KEY``, ``..._CLIENT_CERTIFICATE``;
* ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``,
  ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`` and
  ``OTEL_METRIC_EXPORT_TIMEOUT``;
* ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` for the resource.

Nothing here imports the SDK at module level: ``_config`` uses the parsers.
"""

from __future__ import annotations

import importlib
import inspect
import os
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from ._errors import ConfigurationError, MissingDependencyError

__all__ = [
    "EXPLICIT",
    "EXPONENTIAL",
    "build_otlp_exporter",
    "build_resource",
    "export_timeout_ms",
    "histogram_aggregation",
    "otlp_endpoint_configured",
    "otlp_protocol",
    "parse_key_values",
    "service_name_from_resource_attributes",
]

EXPLICIT = "explicit_bucket_histogram"
EXPONENTIAL = "base2_exponential_bucket_histogram"
_PROTOCOLS = ("http/protobuf", "grpc")
_DEFAULT_ENDPOINT = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
_HTTP_PATH = {"metrics": "v1/metrics", "logs": "v1/logs"}


def _get(environ: Mapping[str, str], signal: str, name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>``, else ``OTEL_EXPORTER_OTLP_<NAME>``, else None."""
    for key in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
        value = environ.get(key, "").strip()
        if value:
            return value
    return None


def parse_key_values(raw: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` with percent-encoded values (OTEL_RESOURCE_ATTRIBUTES, headers).

    Entries without ``=`` or with an empty key are skipped, as the SDK does.

    >>> parse_key_values("service.name=churn%20api, deployment.environment=prod")
    {'service.name': 'churn api', 'deployment.environment': 'prod'}
    """
    out: dict[str, str] = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if sep and key:
            out[key] = unquote(value.strip())
    return out


def service_name_from_resource_attributes(environ: Mapping[str, str]) -> str | None:
    """``service.name`` from ``OTEL_RESOURCE_ATTRIBUTES``, or None."""
    return parse_key_values(environ.get("OTEL_RESOURCE_ATTRIBUTES", "")).get("service.name") or None


def otlp_protocol(signal: str, environ: Mapping[str, str]) -> str:
    """``http/protobuf`` or ``grpc`` for ``signal`` ("metrics" or "logs")."""
    protocol = (_get(environ, signal, "PROTOCOL") or "http/protobuf").lower()
    if protocol not in _PROTOCOLS:
        raise ConfigurationError(
            f"invalid OTLP protocol {protocol!r} (OTEL_EXPORTER_OTLP_PROTOCOL or "
            f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL): use http/protobuf or grpc"
        )
    return protocol


def otlp_endpoint_configured(signal: str, environ: Mapping[str, str]) -> bool:
    return _get(environ, signal, "ENDPOINT") is not None


def _endpoint(signal: str, protocol: str, environ: Mapping[str, str]) -> str:
    specific = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if specific:
        return specific  # used as is, as the specification says
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or _DEFAULT_ENDPOINT[protocol]
    if protocol == "grpc":
        return base
    return base.rstrip("/") + "/" + _HTTP_PATH[signal]


def _timeout(signal: str, environ: Mapping[str, str]) -> float | None:
    raw = _get(environ, signal, "TIMEOUT")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(
            f"invalid OTEL_EXPORTER_OTLP_TIMEOUT {raw!r}: expected a number of seconds"
        ) from None
    if not value > 0:
        raise ConfigurationError(f"invalid OTEL_EXPORTER_OTLP_TIMEOUT {raw!r}: must be > 0")
    return value


def export_timeout_ms(environ: Mapping[str, str]) -> float:
    """``OTEL_METRIC_EXPORT_TIMEOUT``: milliseconds one periodic export may take (30 000)."""
    raw = environ.get("OTEL_METRIC_EXPORT_TIMEOUT", "").strip()
    if not raw:
        return 30_000.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigurationError(
            f"invalid OTEL_METRIC_EXPORT_TIMEOUT {raw!r}: expected a number of milliseconds > 0"
        )
    return value


def histogram_aggregation(environ: Mapping[str, str]) -> str:
    """The histogram aggregation for OTLP exporters (the specification's default: explicit)."""
    raw = environ.get("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "").strip()
    value = raw.lower() or EXPLICIT
    if value not in (EXPLICIT, EXPONENTIAL):
        raise ConfigurationError(
            f"invalid OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION {raw!r}: use "
            f"{EXPLICIT} or {EXPONENTIAL}"
        )
    return value


def preferred_aggregation(environ: Mapping[str, str]) -> dict[type, Any]:
    from opentelemetry.sdk.metrics import Histogram
    from opentelemetry.sdk.metrics.view import (
        ExplicitBucketHistogramAggregation,
        ExponentialBucketHistogramAggregation,
    )

    if histogram_aggregation(environ) == EXPONENTIAL:
        return {Histogram: ExponentialBucketHistogramAggregation()}
    return {Histogram: ExplicitBucketHistogramAggregation()}


def preferred_temporality(environ: Mapping[str, str]) -> dict[type, Any]:
    """``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` as the SDK maps it."""
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    raw = environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "").strip()
    value = raw.lower() or "cumulative"
    cumulative, delta = AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA
    if value == "cumulative":
        counters = histogram = observable = cumulative
    elif value == "delta":
        counters = histogram = observable = delta
    elif value == "lowmemory":
        counters = histogram = delta
        observable = cumulative
    else:
        raise ConfigurationError(
            f"invalid OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE {raw!r}: use "
            "cumulative, delta or lowmemory"
        )
    return {
        Counter: counters, UpDownCounter: cumulative, Histogram: histogram,
        ObservableCounter: observable, ObservableUpDownCounter: cumulative,
        ObservableGauge: cumulative,
    }


def _accepted(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments this version of an exporter class declares (and non-None)."""
    names = set(inspect.signature(cls).parameters)
    return {k: v for k, v in kwargs.items() if k in names and v is not None}


def _import_exporter(signal: str, protocol: str) -> type:
    if protocol == "grpc":
        try:
            if signal == "metrics":
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                    OTLPMetricExporter as GrpcMetricExporter,
                )

                return GrpcMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
                OTLPLogExporter as GrpcLogExporter,
            )

            return GrpcLogExporter
        except ImportError:
            raise MissingDependencyError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the OTLP/gRPC exporter, which is not "
                "installed: pip install 'inferwatch[otlp-grpc]' (or set "
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and point the endpoint at the "
                "collector's HTTP port, 4318)"
            ) from None
    try:
        if signal == "metrics":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )

            return OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter
    except ImportError:
        raise MissingDependencyError(
            "OTLP export over HTTP needs the OTLP/HTTP exporter, which is not installed: "
            "pip install 'inferwatch[otlp]' (or OTEL_EXPORTER_OTLP_PROTOCOL=grpc with "
            "'inferwatch[otlp-grpc]')"
        ) from None


def _compression(signal: str, protocol: str, environ: Mapping[str, str]) -> Any:
    raw = _get(environ, signal, "COMPRESSION")
    if raw is None:
        return None
    value = raw.lower()
    if value not in ("gzip", "deflate", "none"):
        raise ConfigurationError(
            f"invalid OTEL_EXPORTER_OTLP_COMPRESSION {raw!r}: use gzip, deflate or none"
        )
    if protocol == "grpc":
        grpc = importlib.import_module("grpc")  # untyped without types-grpcio
        return {"gzip": grpc.Compression.Gzip, "deflate": grpc.Compression.Deflate,
                "none": grpc.Compression.NoCompression}[value]
    from opentelemetry.exporter.otlp.proto.http import Compression

    return {"gzip": Compression.Gzip, "deflate": Compression.Deflate,
            "none": Compression.NoCompression}[value]


def _grpc_credentials(signal: str, environ: Mapping[str, str]) -> Any:
    certificate = _get(environ, signal, "CERTIFICATE")
    if certificate is None:
        return None
    grpc = importlib.import_module("grpc")

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read(certificate),
        private_key=read(_get(environ, signal, "CLIENT_KEY")),
        certificate_chain=read(_get(environ, signal, "CLIENT_CERTIFICATE")),
    )


def build_otlp_exporter(signal: str, environ: Mapping[str, str], **extra: Any) -> Any:
    """An OTLP exporter for ``signal`` ("metrics" or "logs") configured from ``environ``.

    ``extra`` goes to the constructor (e.g. ``preferred_temporality``); a
    missing gRPC exporter raises ``MissingDependencyError`` saying what to
    install.
    """
    protocol = otlp_protocol(signal, environ)
    cls = _import_exporter(signal, protocol)
    endpoint = _endpoint(signal, protocol, environ)
    headers = parse_key_values(_get(environ, signal, "HEADERS") or "") or None
    kwargs: dict[str, Any] = {
        "endpoint": endpoint,
        "headers": headers,
        "timeout": _timeout(signal, environ),
        "compression": _compression(signal, protocol, environ),
        **extra,
    }
    if protocol == "grpc":
        insecure = _get(environ, signal, "INSECURE")
        if insecure is not None:
            kwargs["insecure"] = insecure.lower() == "true"
        elif urlparse(endpoint).scheme in ("http", "https"):
            kwargs["insecure"] = urlparse(endpoint).scheme == "http"
        kwargs["credentials"] = _grpc_credentials(signal, environ)
    else:
        kwargs["certificate_file"] = _get(environ, signal, "CERTIFICATE")
        kwargs["client_key_file"] = _get(environ, signal, "CLIENT_KEY")
        kwargs["client_certificate_file"] = _get(environ, signal, "CLIENT_CERTIFICATE")
    return cls(**_accepted(cls, kwargs))


def build_resource(service_name: str, environ: Mapping[str, str]) -> Any:
    """The SDK's default resource, ``OTEL_RESOURCE_ATTRIBUTES``, then ``service.name``.

    ``service_name`` is the resolved ``service_name`` option (given in code,
    else ``OTEL_SERVICE_NAME``, else ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES``, else ``unknown_service``), so metrics, the
    JSON log and OTLP logs carry the same name.
    """
    from importlib.metadata import PackageNotFoundError, version

    from opentelemetry.sdk.resources import (
        SERVICE_NAME,
        TELEMETRY_SDK_LANGUAGE,
        TELEMETRY_SDK_NAME,
        TELEMETRY_SDK_VERSION,
        Resource,
    )

    try:
        sdk_version = version("opentelemetry-sdk")
    except PackageNotFoundError:  # pragma: no cover - the SDK is a dependency
        sdk_version = "unknown"
    attributes: dict[str, Any] = {
        TELEMETRY_SDK_LANGUAGE: "python",
        TELEMETRY_SDK_NAME: "opentelemetry",
        TELEMETRY_SDK_VERSION: sdk_version,
    }
    attributes.update(parse_key_values(environ.get("OTEL_RESOURCE_ATTRIBUTES", "")))
    attributes[SERVICE_NAME] = service_name
    # Each process (each uvicorn or gunicorn worker) pushes its own cumulative series:
    # with one resource for all of them a backend would merge them (minimal edit by rules).
    attributes.setdefault("service.instance.id", process_instance_id())
    return Resource(attributes)


_instance_ids: dict[int, str] = {}


def process_instance_id() -> str:
    """This process's ``service.instance.id``: a random UUID, a new one in a forked child."""
    pid = os.getpid()
    if pid not in _instance_ids:
        _instance_ids.clear()
        _instance_ids[pid] = str(uuid.uuid4())
    return _instance_ids[pid]
