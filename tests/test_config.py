"""Configuration from code and environment; invalid options fail at start-up, clearly."""

from __future__ import annotations

import pytest

from inferwatch import ConfigurationError, Monitor
from inferwatch._config import OPTIONS, resolve_config


def test_defaults() -> None:
    config = resolve_config(environ={})
    assert config.sample_rate == 1.0
    assert config.feature_sample_rate == 0.1
    assert config.log_sink == "stdout"
    assert config.service_name == "unknown_service"


def test_environment_and_code_precedence() -> None:
    env = {"INFERWATCH_SAMPLE_RATE": "0.25", "OTEL_SERVICE_NAME": "svc",
           "INFERWATCH_PII_FIELDS": "email, user_id", "INFERWATCH_SLOW_THRESHOLD_MS": "none"}
    config = resolve_config({"sample_rate": 0.5}, environ=env)
    assert config.sample_rate == 0.5  # code wins
    assert config.service_name == "svc"
    assert config.pii_fields == ("email", "user_id")
    assert config.slow_threshold_ms is None


@pytest.mark.parametrize(
    ("env", "option", "accepted"),
    [
        ({"INFERWATCH_SAMPLE_RATE": "1.5"}, "sample_rate", "a number from 0 to 1"),
        ({"INFERWATCH_SAMPLE_RATE": "abc"}, "sample_rate", "a number from 0 to 1"),
        ({"INFERWATCH_LOG_SINK": "kafka"}, "log_sink", "stdout, stderr, file, otlp, none"),
        ({"INFERWATCH_ENABLED": "maybe"}, "enabled", "true or false"),
        ({"INFERWATCH_BUFFER_SIZE": "2"}, "buffer_size", "an integer from 16"),
        ({"INFERWATCH_PII_DETECTORS": "email,ssn"}, "pii_detectors", "subset of email, phone"),
        ({"INFERWATCH_SAMPLE_RATE": "nan"}, "sample_rate", "a number from 0 to 1"),
    ],
)
def test_invalid_environment_names_option_and_accepted_values(
    env: dict[str, str], option: str, accepted: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(environ=env)
    message = str(info.value)
    assert repr(option) in message
    assert next(iter(env)) in message
    assert accepted in message


def test_invalid_code_values() -> None:
    with pytest.raises(ConfigurationError, match="sample_rate"):
        resolve_config({"sample_rate": True}, environ={})
    with pytest.raises(ConfigurationError, match="unknown option"):
        resolve_config({"sampel_rate": 0.1}, environ={})
    with pytest.raises(ConfigurationError, match="log_file"):
        resolve_config({"log_sink": "file"}, environ={})


def test_pii_fields_without_key_refuse_to_start() -> None:
    with pytest.raises(ConfigurationError, match="INFERWATCH_PII_KEY"):
        Monitor(pii_fields=["email"], environ={}, metrics_exporter="none")


def test_every_option_has_an_environment_variable_and_doc() -> None:
    envs = [o.env for o in OPTIONS]
    assert len(set(envs)) == len(envs)
    for option in OPTIONS:
        assert option.env.startswith(("INFERWATCH_", "OTEL_"))
        assert option.doc and option.accepts


def test_code_option_errors_name_the_code_option_not_the_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config({"sample_rate": 1.5}, environ={})
    message = str(info.value)
    assert "'sample_rate'" in message and "given in code" in message
    assert "a number from 0 to 1" in message
    assert "INFERWATCH_SAMPLE_RATE" not in message
    with pytest.raises(ConfigurationError) as info:
        resolve_config({"service_name": None}, environ={})
    assert "'service_name'" in str(info.value) and "OTEL_SERVICE_NAME" not in str(info.value)


def test_environment_errors_name_the_variable_first() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(environ={"INFERWATCH_SAMPLE_RATE": "1.5"})
    assert "environment variable INFERWATCH_SAMPLE_RATE" in str(info.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "unknown_service"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "team=ml,service.name=from%2Dattributes"},
         "from-attributes"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes",
          "OTEL_SERVICE_NAME": "from-service-name"}, "from-service-name"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "team=ml"}, "unknown_service"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name="}, "unknown_service"),
    ],
)
def test_service_name_resolution(env: dict[str, str], expected: str) -> None:
    assert resolve_config(environ=env).service_name == expected
    # The option given in code wins over both variables.
    assert resolve_config({"service_name": "code"}, environ=env).service_name == "code"


@pytest.mark.parametrize(
    ("env", "log_sink", "metrics_exporter"),
    [
        ({"OTEL_LOGS_EXPORTER": "otlp"}, "otlp", "auto"),
        ({"OTEL_LOGS_EXPORTER": "console"}, "stdout", "auto"),
        ({"OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}, "none", "none"),
        ({"OTEL_LOGS_EXPORTER": "otlp,console"}, "otlp,stdout", "auto"),
        ({"OTEL_METRICS_EXPORTER": "console"}, "stdout", "console"),
        ({"OTEL_METRICS_EXPORTER": "otlp", "INFERWATCH_METRICS_EXPORTER": "none",
          "OTEL_LOGS_EXPORTER": "otlp", "INFERWATCH_LOG_SINK": "stderr"}, "stderr", "none"),
    ],
)
def test_otel_exporter_variables(env: dict[str, str], log_sink: str,
                                 metrics_exporter: str) -> None:
    config = resolve_config(environ=env)
    assert (config.log_sink, config.metrics_exporter) == (log_sink, metrics_exporter)


@pytest.mark.parametrize("env", [{"OTEL_METRICS_EXPORTER": "prometheus"},
                                 {"OTEL_METRICS_EXPORTER": "otlp,console"},
                                 {"OTEL_LOGS_EXPORTER": "kafka"}])
def test_unusable_otel_exporter_variables_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(env))):
        resolve_config(environ=env)


def test_the_export_decision_reads_the_given_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert not resolve_config(environ={}).exports_metrics(False)
    given = resolve_config(environ={"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://h:1"})
    assert given.exports_metrics(False)
    assert given.otel_environ == {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://h:1"}
    assert resolve_config({"metrics_exporter": "console"}, environ={}).exports_metrics(False)
    assert not resolve_config({"metrics_exporter": "none"}, environ={}).exports_metrics(True)
    assert resolve_config(environ={}).exports_metrics(True)  # a MeterProvider given


def test_options_typeddict_and_config_agree() -> None:
    import dataclasses
    import types
    import typing

    from inferwatch._config import Config, MonitorOptions, Options

    hints = typing.get_type_hints(Options)
    config_hints = typing.get_type_hints(Config)
    assert set(hints) == {o.name for o in OPTIONS}
    assert set(MonitorOptions.__annotations__) == set(hints) - {"log_sink"}
    def members(hint: object) -> set[object]:
        return set(typing.get_args(hint)) if typing.get_origin(hint) is types.UnionType else {
            hint}

    for name, hint in hints.items():
        assert members(config_hints[name]) <= members(hint), name  # what Config holds is OK
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for option in OPTIONS:  # every option is a Config field with the option's default
        assert fields[option.name].default == option.default


def test_pii_key_stays_out_of_repr() -> None:
    config = resolve_config({"pii_key": "s" * 40}, environ={})
    assert "s" * 40 not in repr(config)
