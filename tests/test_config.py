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
