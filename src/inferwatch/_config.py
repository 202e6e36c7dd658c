"""Configuration: every option declared once, read from code and the environment.

Each option is one field of ``Config``, declared with ``_option(...)``: its
environment variable, default, parser, description and what it accepts. The
``OPTIONS`` table (the README's configuration reference, checked by a test)
is derived from those fields, so the two cannot drift apart. ``Options`` is
the same set as a ``TypedDict`` for type checkers (``configure(**options)``);
a test keeps its keys and types in step with ``Config``.

A keyword argument given in code wins over the environment, which wins over
the default. Some options also read a standard OpenTelemetry variable after
their own (``service_name``: ``OTEL_SERVICE_NAME``, then ``service.name`` in
``OTEL_RESOURCE_ATTRIBUTES``; ``metrics_exporter``: ``OTEL_METRICS_EXPORTER``;
``log_sink``: ``OTEL_LOGS_EXPORTER``). An invalid value fails at start-up with a
``ConfigurationError`` naming where it came from: the code option for a value
passed in code, the environment variable for one read from the environment.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from ._errors import ConfigurationError
from ._otel_env import otlp_endpoint_configured, service_name_from_resource_attributes

__all__ = ["OPTIONS", "Config", "MonitorOptions", "Option", "Options", "resolve_config"]

LOG_SINKS = ("stdout", "stderr", "file", "otlp", "none")
METRICS_EXPORTERS = ("auto", "otlp", "console", "none")


class _Invalid(Exception):
    """A parser's refusal; ``resolve_config`` names the source in the message."""


@dataclasses.dataclass(frozen=True)
class Fallback:
    """A standard variable read when the option's own is unset: ``translate(raw)``
    gives the option's raw value (None: not usable, read on)."""

    env: str
    translate: Callable[[str], str | None]
    accepts: str


@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    env: str
    default: Any
    parse: Callable[[str, Option], Any]
    doc: str
    accepts: str
    nullable: bool = False
    fallbacks: tuple[Fallback, ...] = ()


def _fail(option: Option, raw: object) -> _Invalid:
    return _Invalid(raw)


def _parse_bool(raw: str, option: Option) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise _fail(option, raw)


def _number(kind: type, low: float | None, high: float | None) -> Callable[[str, Option], Any]:
    def parse(raw: str, option: Option) -> Any:
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise _fail(option, raw) from None
        if value != value or (low is not None and value < low) or (
            high is not None and value > high
        ):
            raise _fail(option, raw)
        return value

    return parse


def _optional_number(low: float, high: float | None) -> Callable[[str, Option], Any]:
    inner = _number(float, low, high)

    def parse(raw: str, option: Option) -> Any:
        if raw.strip().lower() in ("", "none", "off"):
            return None
        return inner(raw, option)

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str, Option], str]:
    def parse(raw: str, option: Option) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise _fail(option, raw)
        return value

    return parse


def _sink_list(raw: str, option: Option) -> str:
    # One log sink, or several joined by commas ("file,otlp"), each named once.
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    if (
        not names
        or len(set(names)) != len(names)
        or any(name not in LOG_SINKS for name in names)
        or ("none" in names and len(names) > 1)
    ):
        raise _fail(option, raw)
    return ",".join(names)


def _names(raw: str, option: Option) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _text(raw: str, option: Option) -> str:
    return raw


def _optional_text(raw: str, option: Option) -> str | None:
    return raw or None


_DETECTORS = ("email", "phone")


def _detectors(raw: str, option: Option) -> tuple[str, ...]:
    names = _names(raw, option)
    for name in names:
        if name.lower() not in _DETECTORS:
            raise _fail(option, raw)
    return tuple(name.lower() for name in names)


def _otel_exporter(
    mapping: Mapping[str, str], several: bool = False
) -> Callable[[str], str | None]:
    """``OTEL_{METRICS,LOGS}_EXPORTER`` onto the option's value (a list when ``several``)."""

    def translate(raw: str) -> str | None:
        names = [part.strip().lower() for part in raw.split(",") if part.strip()]
        if not several and len(names) != 1:
            return f"<{raw}>"  # not one name: fails to parse, naming the variable
        return ",".join(mapping.get(name, f"<{name}>") for name in names)

    return translate


def _resource_service_name(raw: str) -> str | None:
    return service_name_from_resource_attributes({"OTEL_RESOURCE_ATTRIBUTES": raw})


def _option(
    env: str, default: Any, parse: Callable[[str, Option], Any], doc: str, accepts: str, *,
    nullable: bool = False, fallbacks: tuple[Fallback, ...] = (), secret: bool = False,
) -> Any:
    """A ``Config`` field that is an option (typed ``Any`` so each field keeps its own type)."""
    return dataclasses.field(
        default=default, repr=not secret,
        metadata={"option": (env, parse, doc, accepts, nullable, fallbacks)},
    )


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved configuration. Build it with ``resolve_config``."""

    enabled: bool = _option(
        "INFERWATCH_ENABLED", True, _parse_bool,
        "Turn all monitoring off; decorated functions then run bare.", "true or false")
    service_name: str = _option(
        "OTEL_SERVICE_NAME", "unknown_service", _text,
        "Service name on every log record (JSON and OTLP) and on the metric resource "
        "inferwatch builds (a MeterProvider you pass keeps its own resource); unset, "
        "service.name from OTEL_RESOURCE_ATTRIBUTES.", "any text",
        fallbacks=(Fallback("OTEL_RESOURCE_ATTRIBUTES", _resource_service_name,
                            "key=value pairs"),))
    model_name: str | None = _option(
        "INFERWATCH_MODEL_NAME", None, _optional_text,
        "Default model name for decorators that do not name one "
        "(falls back to the function's name).", "any text")
    model_version: str = _option(
        "INFERWATCH_MODEL_VERSION", "unversioned", _text, "Default model version.", "any text")
    log_sink: str = _option(
        "INFERWATCH_LOG_SINK", "stdout", _sink_list,
        "Where per-inference log records go; unset, OTEL_LOGS_EXPORTER (otlp, console = "
        "stdout, none).",
        "one of " + ", ".join(LOG_SINKS) + ", or several joined by commas (file,otlp)",
        fallbacks=(Fallback("OTEL_LOGS_EXPORTER", _otel_exporter(
            {"otlp": "otlp", "console": "stdout", "none": "none"}, several=True),
            "otlp, console or none, or otlp,console"),))
    log_file: str | None = _option(
        "INFERWATCH_LOG_FILE", None, _optional_text,
        "Path of the log file when log_sink is 'file'.", "a file path")
    log_max_bytes: int = _option(
        "INFERWATCH_LOG_MAX_BYTES", 100 * 1024 * 1024, _number(int, 1024, None),
        "Rotate the log file past this size.", "an integer >= 1024")
    log_rotate_seconds: float = _option(
        "INFERWATCH_LOG_ROTATE_SECONDS", 86400.0, _number(float, 1.0, None),
        "Rotate the log file after this many seconds.", "a number >= 1")
    log_backups: int = _option(
        "INFERWATCH_LOG_BACKUPS", 5, _number(int, 0, 1000),
        "Rotated log files kept.", "an integer from 0 to 1000")
    sample_rate: float = _option(
        "INFERWATCH_SAMPLE_RATE", 1.0, _number(float, 0.0, 1.0),
        "Share of ordinary records without features that are logged.",
        "a number from 0 to 1")
    feature_sample_rate: float = _option(
        "INFERWATCH_FEATURE_SAMPLE_RATE", 0.1, _number(float, 0.0, 1.0),
        "Share of ordinary records carrying features that are logged.",
        "a number from 0 to 1")
    slow_threshold_ms: float | None = _option(
        "INFERWATCH_SLOW_THRESHOLD_MS", 1000.0, _optional_number(0.0, None),
        "Calls slower than this are always logged (rule 'slow'); 'none' turns it off.",
        "a number of milliseconds >= 0, or none", nullable=True)
    low_confidence_threshold: float | None = _option(
        "INFERWATCH_LOW_CONFIDENCE_THRESHOLD", None, _optional_number(0.0, 1.0),
        "Predictions with confidence below this are always logged (rule 'low_confidence').",
        "a number from 0 to 1, or none", nullable=True)
    max_records_per_second: float = _option(
        "INFERWATCH_MAX_RECORDS_PER_SECOND", 1000.0, _number(float, 0.0, None),
        "Token bucket per sampling rule: records logged per second at most (burst = 1 s).",
        "a number >= 0")
    log_features: bool = _option(
        "INFERWATCH_LOG_FEATURES", True, _parse_bool,
        "Include captured features in logged records.", "true or false")
    pii_fields: tuple[str, ...] = _option(
        "INFERWATCH_PII_FIELDS", (), _names,
        "Feature and attribute names replaced by keyed HMAC pseudonyms.",
        "comma-separated names")
    drop_fields: tuple[str, ...] = _option(
        "INFERWATCH_DROP_FIELDS", (), _names,
        "Feature and attribute names never logged.", "comma-separated names")
    pii_detectors: tuple[str, ...] = _option(
        "INFERWATCH_PII_DETECTORS", (), _detectors,
        "Replace emails and/or phone numbers found inside logged strings.",
        "comma-separated subset of email, phone")
    pii_key: str | None = _option(
        "INFERWATCH_PII_KEY", None, _optional_text,
        "Pseudonymisation key (>= 32 bytes; 'hex:' or 'base64:' prefixes accepted).",
        "a secret of at least 32 bytes", secret=True)
    pii_key_file: str | None = _option(
        "INFERWATCH_PII_KEY_FILE", None, _optional_text,
        "File holding the pseudonymisation key.", "a file path")
    pii_key_id: str = _option(
        "INFERWATCH_PII_KEY_ID", "1", _text,
        "Key id written into pseudonyms (k<id>:...) so keys can rotate.", "any text")
    pii_ephemeral_key: bool = _option(
        "INFERWATCH_PII_EPHEMERAL_KEY", False, _parse_bool,
        "Allow a random per-process key when none is configured (pseudonyms then "
        "differ across restarts and replicas).", "true or false")
    sampling_key: str | None = _option(
        "INFERWATCH_SAMPLING_KEY", None, _optional_text,
        "Secret replicas share to key the 'rate' sampling decision, so clients cannot choose "
        "which requests are logged (>= 32 bytes; 'hex:'/'base64:' accepted). Unset: derived "
        "from the PII key; with neither, the decision is deterministic but NOT secret.",
        "a secret of at least 32 bytes", secret=True)
    buffer_size: int = _option(
        "INFERWATCH_BUFFER_SIZE", 65536, _number(int, 16, 10_000_000),
        "Records buffered between the request path and the aggregator; past it a "
        "call's counts stay exact and its detail is dropped and counted.",
        "an integer from 16 to 10000000")
    log_queue_size: int = _option(
        "INFERWATCH_LOG_QUEUE_SIZE", 10000, _number(int, 1, 10_000_000),
        "Sampled log records waiting for the log sink; past it they are dropped "
        "and counted.", "an integer from 1 to 10000000")
    flush_interval_ms: float = _option(
        "INFERWATCH_FLUSH_INTERVAL_MS", 100.0, _number(float, 1.0, 60_000.0),
        "How often the background aggregator drains the buffer.",
        "a number of milliseconds from 1 to 60000")
    metrics_exporter: str = _option(
        "INFERWATCH_METRICS_EXPORTER", "auto", _choice(METRICS_EXPORTERS),
        "'auto' exports over OTLP when OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT is set; "
        "'console' prints each export; unset, OTEL_METRICS_EXPORTER (otlp, console, none). "
        "Metrics stay inspectable in-process either way.",
        "one of " + ", ".join(METRICS_EXPORTERS),
        fallbacks=(Fallback("OTEL_METRICS_EXPORTER", _otel_exporter(
            {"otlp": "otlp", "console": "console", "none": "none"}),
            "otlp, console or none"),))
    export_interval_ms: float = _option(
        "OTEL_METRIC_EXPORT_INTERVAL", 60000.0, _number(float, 100.0, None),
        "Interval between metric exports.", "a number of milliseconds >= 100")
    max_attribute_values: int = _option(
        "INFERWATCH_MAX_ATTRIBUTE_VALUES", 100, _number(int, 1, 100_000),
        "Distinct values kept per metric attribute; later values become '_other'.",
        "an integer from 1 to 100000")
    max_classes: int = _option(
        "INFERWATCH_MAX_CLASSES", 50, _number(int, 1, 10_000),
        "Distinct predicted classes counted by name; the rest count as '_other'.",
        "an integer from 1 to 10000")
    buffer_bytes: int = _option(
        "INFERWATCH_BUFFER_BYTES", 64 * 1024 * 1024, _number(int, 1024, None),
        "Estimated bytes of copied features and predictions admitted to the buffer "
        "between two drains; past it a call is still counted, its detail dropped "
        "and counted.", "an integer of bytes >= 1024")
    log_queue_bytes: int = _option(
        "INFERWATCH_LOG_QUEUE_BYTES", 32 * 1024 * 1024, _number(int, 1024, None),
        "Estimated bytes of records waiting for the log sink; past it records are "
        "dropped and counted.", "an integer of bytes >= 1024")
    max_record_bytes: int = _option(
        "INFERWATCH_MAX_RECORD_BYTES", 1024 * 1024, _number(int, 64, None),
        "Largest features, prediction or confidence one record may carry (estimated); "
        "larger ones are not copied (counted as record_too_large / "
        "prediction_too_large).", "an integer of bytes >= 64")
    max_endpoints: int = _option(
        "INFERWATCH_MAX_ENDPOINTS", 1000, _number(int, 1, 1_000_000),
        "Distinct (model, version, attributes) series; calls past it are counted "
        "under model '_other'.", "an integer from 1 to 1000000")
    handle_sigterm: bool = _option(
        "INFERWATCH_HANDLE_SIGTERM", True, _parse_bool,
        "Install a SIGTERM handler (from the main thread, chaining the previous "
        "one) that flushes logs and metrics before the process ends.", "true or false")
    # The infrastructure layer (inferwatch.infra).
    system_metrics: bool = _option(
        "INFERWATCH_SYSTEM_METRICS", False, _parse_bool,
        "Export this process's CPU and memory (process.cpu.time, process.memory.usage, ...) "
        "through OpenTelemetry's system-metrics instrumentation on inferwatch's "
        "MeterProvider; needs the 'system' extra.", "true or false")
    gpu_metrics: bool = _option(
        "INFERWATCH_GPU_METRICS", True, _parse_bool,
        "Export each GPU's utilisation, memory, temperature and power (inferwatch.gpu.*), "
        "read through NVML at collection time; with no 'gpu' extra, driver or GPU, "
        "nothing.", "true or false")
    cost_per_hour: float | None = _option(
        "INFERWATCH_COST_PER_HOUR", None, _optional_number(0.0, None),
        "Hourly price of the machine without its GPUs (USD), apportioned by this "
        "process's CPU time for inferwatch.cost.per_prediction.",
        "a number >= 0, or none", nullable=True)
    gpu_cost_per_hour: float | None = _option(
        "INFERWATCH_GPU_COST_PER_HOUR", None, _optional_number(0.0, None),
        "Hourly price of one GPU (USD), apportioned by GPU busy time (gpu_stage device "
        "time, else NVML utilisation) for inferwatch.cost.per_prediction.",
        "a number >= 0, or none", nullable=True)
    #: The ``OTEL_*`` variables of the environment it was resolved from (not an
    #: option): the OTel bridge reads exporter settings here, never ``os.environ``.
    otel_environ: Mapping[str, str] = dataclasses.field(
        default_factory=dict, repr=False, compare=False)

    @property
    def otlp_endpoint_configured(self) -> bool:
        """Whether OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT is set (in the resolved environment)."""
        return otlp_endpoint_configured("metrics", self.otel_environ)

    def exports_metrics(self, meter_provider_given: bool) -> bool:
        """Whether the monitor hands its metrics to OpenTelemetry.

        With a MeterProvider passed in, unless ``metrics_exporter`` is 'none';
        otherwise for 'otlp' and 'console', and for 'auto' when an OTLP
        endpoint is configured.
        """
        if self.metrics_exporter == "none":
            return False
        return meter_provider_given or self.metrics_exporter in ("otlp", "console") or (
            self.otlp_endpoint_configured
        )


OPTIONS: tuple[Option, ...] = tuple(
    Option(field.name, env, field.default, parse, doc, accepts, nullable, fallbacks)
    for field in dataclasses.fields(Config) if "option" in field.metadata
    for env, parse, doc, accepts, nullable, fallbacks in [field.metadata["option"]]
)

_BY_NAME = {option.name: option for option in OPTIONS}


class MonitorOptions(TypedDict, total=False):
    """The options of ``Monitor(**options)`` for type checkers (``log_sink`` is a parameter
    of its own there, taking a sink object too)."""

    enabled: bool
    service_name: str
    model_name: str | None
    model_version: str
    log_file: str | None
    log_max_bytes: int
    log_rotate_seconds: float
    log_backups: int
    sample_rate: float
    feature_sample_rate: float
    slow_threshold_ms: float | None
    low_confidence_threshold: float | None
    max_records_per_second: float
    log_features: bool
    pii_fields: tuple[str, ...] | list[str]
    drop_fields: tuple[str, ...] | list[str]
    pii_detectors: tuple[str, ...] | list[str]
    pii_key: str | None
    pii_key_file: str | None
    pii_key_id: str
    pii_ephemeral_key: bool
    sampling_key: str | None
    buffer_size: int
    log_queue_size: int
    flush_interval_ms: float
    metrics_exporter: str
    export_interval_ms: float
    max_attribute_values: int
    max_classes: int
    buffer_bytes: int
    log_queue_bytes: int
    max_record_bytes: int
    max_endpoints: int
    handle_sigterm: bool
    system_metrics: bool
    gpu_metrics: bool
    cost_per_hour: float | None
    gpu_cost_per_hour: float | None


class Options(MonitorOptions, total=False):
    """Every option, for type checkers (what ``resolve_config`` takes as overrides).

    ``Monitor`` and ``configure`` take ``log_sink`` (a name or a sink object),
    ``meter_provider``, ``logger_provider`` and ``environ`` as parameters of
    their own and the rest as ``**options: Unpack[MonitorOptions]``
    (``Unpack`` from ``typing_extensions`` under ``TYPE_CHECKING`` on 3.10).
    """

    log_sink: str


def _coerce(option: Option, value: Any) -> Any:
    """Validate a value given in code with the same rules as the environment."""
    if value is None:
        if option.default is None or option.nullable:
            return None
        raise _Invalid(value)
    if isinstance(option.default, tuple) and not isinstance(value, str):
        try:
            return option.parse(",".join(str(v) for v in value), option)
        except TypeError:
            raise _Invalid(value) from None
    if isinstance(value, bool) and option.parse is not _parse_bool:
        raise _Invalid(value)
    return option.parse(str(value) if not isinstance(value, str) else value, option)


def _from_environment(option: Option, env: Mapping[str, str]) -> tuple[bool, Any]:
    """(found, value) from the option's variable, then its fallbacks."""
    raw = env.get(option.env)
    if raw:
        try:
            return True, option.parse(raw, option)
        except _Invalid:
            raise ConfigurationError(
                f"invalid value {raw!r} in environment variable {option.env} (option "
                f"{option.name!r}): expected {option.accepts}"
            ) from None
    for fallback in option.fallbacks:
        raw = env.get(fallback.env)
        if not raw:
            continue
        translated = fallback.translate(raw)
        if translated is None:
            continue
        try:
            return True, option.parse(translated, option)
        except _Invalid:
            raise ConfigurationError(
                f"invalid value {raw!r} in environment variable {fallback.env} (read for "
                f"option {option.name!r} because {option.env} is unset): expected "
                f"{fallback.accepts}; set {option.env} to override it"
            ) from None
    return False, None


def resolve_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Merge keyword overrides, ``INFERWATCH_*``/``OTEL_*`` variables and defaults.

    ``environ`` defaults to ``os.environ``; everything inferwatch reads from
    the environment, OTel exporter settings included, comes from it.
    """
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(_BY_NAME))
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(unknown)}; accepted options: "
            + ", ".join(sorted(_BY_NAME))
        )
    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.name in overrides:
            try:
                values[option.name] = _coerce(option, overrides[option.name])
            except _Invalid:
                raise ConfigurationError(
                    f"invalid value {overrides[option.name]!r} for option {option.name!r} "
                    f"(given in code): expected {option.accepts}"
                ) from None
            continue
        found, value = _from_environment(option, env)
        values[option.name] = value if found else option.default
    if "file" in values["log_sink"].split(",") and not values["log_file"]:
        raise ConfigurationError(
            "option 'log_sink' is 'file' but no 'log_file' is set: set log_file= or "
            "INFERWATCH_LOG_FILE to the path to write"
        )
    otel = types.MappingProxyType({k: v for k, v in env.items() if k.startswith("OTEL_")})
    return Config(**values, otel_environ=otel)
