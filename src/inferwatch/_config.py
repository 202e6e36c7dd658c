"""Configuration: one table of options, read from code and ``INFERWATCH_*`` variables.

Every option is declared once in ``OPTIONS`` with its environment variable,
default, parser and description; the README's configuration reference is
checked against this table by a test. A keyword argument given in code wins
over the environment, which wins over the default. An invalid value fails at
start-up with a ``ConfigurationError`` naming the option and what it accepts.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import ConfigurationError

__all__ = ["OPTIONS", "Config", "Option", "resolve_config"]

LOG_SINKS = ("stdout", "stderr", "file", "otlp", "none")
METRICS_EXPORTERS = ("auto", "otlp", "none")


@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    env: str
    default: Any
    parse: Callable[[str, Option], Any]
    doc: str
    accepts: str
    nullable: bool = False


def _fail(option: Option, raw: object) -> ConfigurationError:
    return ConfigurationError(
        f"invalid value {raw!r} for option {option.name!r} (environment variable "
        f"{option.env}): expected {option.accepts}"
    )


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


OPTIONS: tuple[Option, ...] = (
    Option("enabled", "INFERWATCH_ENABLED", True, _parse_bool,
           "Turn all monitoring off; decorated functions then run bare.", "true or false"),
    Option("service_name", "OTEL_SERVICE_NAME", "unknown_service", _text,
           "Service name on every log record and metric resource.", "any text"),
    Option("model_name", "INFERWATCH_MODEL_NAME", None, _optional_text,
           "Default model name for decorators that do not name one "
           "(falls back to the function's name).", "any text"),
    Option("model_version", "INFERWATCH_MODEL_VERSION", "unversioned", _text,
           "Default model version.", "any text"),
    Option("log_sink", "INFERWATCH_LOG_SINK", "stdout", _choice(LOG_SINKS),
           "Where per-inference log records go.", "one of " + ", ".join(LOG_SINKS)),
    Option("log_file", "INFERWATCH_LOG_FILE", None, _optional_text,
           "Path of the log file when log_sink is 'file'.", "a file path"),
    Option("log_max_bytes", "INFERWATCH_LOG_MAX_BYTES", 100 * 1024 * 1024,
           _number(int, 1024, None), "Rotate the log file past this size.",
           "an integer >= 1024"),
    Option("log_rotate_seconds", "INFERWATCH_LOG_ROTATE_SECONDS", 86400.0,
           _number(float, 1.0, None), "Rotate the log file after this many seconds.",
           "a number >= 1"),
    Option("log_backups", "INFERWATCH_LOG_BACKUPS", 5, _number(int, 0, 1000),
           "Rotated log files kept.", "an integer from 0 to 1000"),
    Option("sample_rate", "INFERWATCH_SAMPLE_RATE", 1.0, _number(float, 0.0, 1.0),
           "Share of ordinary records without features that are logged.",
           "a number from 0 to 1"),
    Option("feature_sample_rate", "INFERWATCH_FEATURE_SAMPLE_RATE", 0.1,
           _number(float, 0.0, 1.0),
           "Share of ordinary records carrying features that are logged.",
           "a number from 0 to 1"),
    Option("slow_threshold_ms", "INFERWATCH_SLOW_THRESHOLD_MS", 1000.0,
           _optional_number(0.0, None),
           "Calls slower than this are always logged (rule 'slow'); 'none' turns it off.",
           "a number of milliseconds >= 0, or none", nullable=True),
    Option("low_confidence_threshold", "INFERWATCH_LOW_CONFIDENCE_THRESHOLD", None,
           _optional_number(0.0, 1.0),
           "Predictions with confidence below this are always logged (rule 'low_confidence').",
           "a number from 0 to 1, or none", nullable=True),
    Option("max_records_per_second", "INFERWATCH_MAX_RECORDS_PER_SECOND", 1000.0,
           _number(float, 0.0, None),
           "Token bucket per sampling rule: records logged per second at most (burst = 1 s).",
           "a number >= 0"),
    Option("log_features", "INFERWATCH_LOG_FEATURES", True, _parse_bool,
           "Include captured features in logged records.", "true or false"),
    Option("pii_fields", "INFERWATCH_PII_FIELDS", (), _names,
           "Feature and attribute names replaced by keyed HMAC pseudonyms.",
           "comma-separated names"),
    Option("drop_fields", "INFERWATCH_DROP_FIELDS", (), _names,
           "Feature and attribute names never logged.", "comma-separated names"),
    Option("pii_detectors", "INFERWATCH_PII_DETECTORS", (), _detectors,
           "Replace emails and/or phone numbers found inside logged strings.",
           "comma-separated subset of email, phone"),
    Option("pii_key", "INFERWATCH_PII_KEY", None, _optional_text,
           "Pseudonymisation key (>= 32 bytes; 'hex:' or 'base64:' prefixes accepted).",
           "a secret of at least 32 bytes"),
    Option("pii_key_file", "INFERWATCH_PII_KEY_FILE", None, _optional_text,
           "File holding the pseudonymisation key.", "a file path"),
    Option("pii_key_id", "INFERWATCH_PII_KEY_ID", "1", _text,
           "Key id written into pseudonyms (k<id>:...) so keys can rotate.", "any text"),
    Option("pii_ephemeral_key", "INFERWATCH_PII_EPHEMERAL_KEY", False, _parse_bool,
           "Allow a random per-process key when none is configured (pseudonyms then "
           "differ across restarts and replicas).", "true or false"),
    Option("buffer_size", "INFERWATCH_BUFFER_SIZE", 65536, _number(int, 16, 10_000_000),
           "Records buffered between the request path and the aggregator; "
           "past it records are dropped and counted.", "an integer from 16 to 10000000"),
    Option("log_queue_size", "INFERWATCH_LOG_QUEUE_SIZE", 10000, _number(int, 1, 10_000_000),
           "Sampled log records waiting for the log sink; past it they are dropped "
           "and counted.", "an integer from 1 to 10000000"),
    Option("flush_interval_ms", "INFERWATCH_FLUSH_INTERVAL_MS", 100.0,
           _number(float, 1.0, 60_000.0),
           "How often the background aggregator drains the buffer.",
           "a number of milliseconds from 1 to 60000"),
    Option("metrics_exporter", "INFERWATCH_METRICS_EXPORTER", "auto",
           _choice(METRICS_EXPORTERS),
           "'auto' exports over OTLP when OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT is set; "
           "metrics stay inspectable in-process either way.",
           "one of " + ", ".join(METRICS_EXPORTERS)),
    Option("export_interval_ms", "OTEL_METRIC_EXPORT_INTERVAL", 60000.0,
           _number(float, 100.0, None), "Interval between metric exports.",
           "a number of milliseconds >= 100"),
    Option("max_attribute_values", "INFERWATCH_MAX_ATTRIBUTE_VALUES", 100,
           _number(int, 1, 100_000),
           "Distinct values kept per metric attribute; later values become '_other'.",
           "an integer from 1 to 100000"),
    Option("max_classes", "INFERWATCH_MAX_CLASSES", 50, _number(int, 1, 10_000),
           "Distinct predicted classes counted by name; the rest count as '_other'.",
           "an integer from 1 to 10000"),
)

_BY_NAME = {option.name: option for option in OPTIONS}


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved configuration. Build it with ``resolve_config``."""

    enabled: bool
    service_name: str
    model_name: str | None
    model_version: str
    log_sink: str
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
    pii_fields: tuple[str, ...]
    drop_fields: tuple[str, ...]
    pii_detectors: tuple[str, ...]
    pii_key: str | None = dataclasses.field(repr=False)
    pii_key_file: str | None
    pii_key_id: str
    pii_ephemeral_key: bool
    buffer_size: int
    log_queue_size: int
    flush_interval_ms: float
    metrics_exporter: str
    export_interval_ms: float
    max_attribute_values: int
    max_classes: int

    @property
    def otlp_endpoint_configured(self) -> bool:
        return any(
            os.environ.get(name)
            for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
        )


def _coerce(option: Option, value: Any) -> Any:
    """Validate a value given in code with the same rules as the environment."""
    if value is None:
        if option.default is None or option.nullable:
            return None
        raise _fail(option, value)
    if isinstance(option.default, tuple) and not isinstance(value, str):
        try:
            return option.parse(",".join(str(v) for v in value), option)
        except TypeError:
            raise _fail(option, value) from None
    if isinstance(value, bool) and option.parse is not _parse_bool:
        raise _fail(option, value)
    return option.parse(str(value) if not isinstance(value, str) else value, option)


def resolve_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Merge keyword overrides, ``INFERWATCH_*``/``OTEL_*`` variables and defaults."""
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
            values[option.name] = _coerce(option, overrides[option.name])
        elif option.env in env and env[option.env] != "":
            values[option.name] = option.parse(env[option.env], option)
        else:
            values[option.name] = option.default
    if values["log_sink"] == "file" and not values["log_file"]:
        raise ConfigurationError(
            "option 'log_sink' is 'file' but no 'log_file' is set: set log_file= or "
            "INFERWATCH_LOG_FILE to the path to write"
        )
    return Config(**values)
