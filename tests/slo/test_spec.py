"""The SLO spec and its OpenSLO v1 YAML form: every invalid spec named precisely."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from inferwatch import ConfigurationError, MissingDependencyError
from inferwatch.slo import SLO, load_slos, parse_duration

# -- in code -------------------------------------------------------------


def test_an_slo_is_a_frozen_value_with_its_window_in_seconds() -> None:
    slo = SLO("churn-latency", "latency", 0.99, threshold_ms=300, model="churn", window="4w")
    assert slo.window_seconds == 28 * 86400
    assert slo.threshold_s == pytest.approx(0.3)
    assert slo.error_budget == pytest.approx(0.01)
    with pytest.raises(AttributeError):
        slo.target = 0.5  # type: ignore[misc]
    assert slo == SLO("churn-latency", "latency", 0.99, threshold_ms=300, model="churn",
                      window="4w")
    with pytest.raises(TypeError):
        SLO("x", "availability", 0.9, "30d")  # type: ignore[misc]  # window is keyword-only


@pytest.mark.parametrize(("text", "seconds"), [
    ("5m", 300), ("1h", 3600), ("30d", 30 * 86400), ("4w", 28 * 86400), ("90s", 90),
    ("1h30m", 5400), (" 6h ", 21600), ("1.5h", 5400),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "1M", "1y", "5 m", "-5m", "0m", "5m3", "h1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"kind": "uptime"}, "kind"),
    ({"target": 1.0}, "target"),
    ({"target": 0.0}, "target"),
    ({"target": 99.9}, "target"),
    ({"target": float("nan")}, "target"),
    ({"target": True}, "target"),
    ({"window": "thirty days"}, "window"),
    ({"window": "30s"}, "window"),
    ({"window": "400d"}, "window"),
    ({"kind": "latency"}, "threshold_ms"),
    ({"kind": "latency", "threshold_ms": 0}, "threshold_ms"),
    ({"kind": "latency", "threshold_ms": -5}, "threshold_ms"),
    ({"kind": "latency", "threshold_ms": float("inf")}, "threshold_ms"),
    ({"threshold_ms": 300}, "threshold_ms"),
    ({"kind": "freshness"}, "max_age"),
    ({"kind": "freshness", "max_age": "old"}, "max_age"),
    ({"max_age": "30d"}, "max_age"),
    ({"version": "3"}, "version"),
    ({"model": ""}, "model"),
    ({"name": ""}, "name"),
])
def test_every_invalid_field_is_named(kwargs: dict[str, Any], field: str) -> None:
    args = {"name": "churn-slo", "kind": "availability", "target": 0.99, **kwargs}
    with pytest.raises(ConfigurationError, match=rf"SLO '.*': {field}:"):
        SLO(args.pop("name"), args.pop("kind"), args.pop("target"), **args)


# -- OpenSLO YAML ----------------------------------------------------------

FILE = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: churn-availability
  annotations:
    inferwatch/kind: availability
    inferwatch/model: churn
spec:
  description: Calls that do not fail
  service: churn-api
  indicator:
    metadata: {name: churn-errors}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: inferwatch}}
        total: {metricSource: {type: inferwatch}}
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.999
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: churn-duration
  annotations:
    inferwatch/model: churn
    inferwatch/version: 3
spec:
  thresholdMetric: {metricSource: {type: inferwatch}}
---
apiVersion: openslo/v1
kind: Service
metadata: {name: churn-api}
spec: {}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: churn-latency
spec:
  indicatorRef: churn-duration
  timeWindow: [{duration: 4w, isRolling: true}]
  objectives:
    - displayName: fast
      op: lte
      value: 300
      target: 0.99
    - displayName: not slow
      op: lt
      value: 1500
      targetPercent: 99.9
"""


def write(tmp_path: Path, text: str, name: str = "slos.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_openslo_documents_map_onto_slos(tmp_path: Path) -> None:
    slos = load_slos(write(tmp_path, FILE))
    assert slos == [
        SLO("churn-availability", "availability", 0.999, model="churn",
            description="Calls that do not fail"),
        SLO("churn-latency-fast", "latency", 0.99, window="4w", model="churn", version="3",
            threshold_ms=300),
        SLO("churn-latency-not-slow", "latency", 0.999, window="4w",
            model="churn", version="3", threshold_ms=1500),
    ]


def test_an_annotation_threshold_overrides_the_objective_value(tmp_path: Path) -> None:
    text = FILE.replace("name: churn-latency\n",
                        "name: churn-latency\n  annotations: {inferwatch/threshold-ms: '250'}\n")
    slos = load_slos(write(tmp_path, text))
    assert [s.threshold_ms for s in slos[1:]] == [250.0, 250.0]


def _one(body: str) -> str:
    return "apiVersion: openslo/v1\nkind: SLO\n" + textwrap.dedent(body)


BASE = """\
metadata:
  name: api-slo
  annotations: {inferwatch/kind: KIND}
spec:
  indicator: {spec: {ratioMetric: {}}}
  timeWindow: [{duration: WINDOW, isRolling: true}]
  objectives: [{target: TARGET}]
"""


def _base(kind: str = "availability", window: str = "30d", target: str = "0.99") -> str:
    return _one(BASE.replace("KIND", kind).replace("WINDOW", window).replace("TARGET", target))


@pytest.mark.parametrize(("text", "field"), [
    (_base(kind="uptime"), r"metadata\.annotations\[inferwatch/kind\]: unknown kind 'uptime'"),
    (_base(target="1.5"), r"spec\.objectives\[0\]\.target: 1\.5 is not strictly between"),
    (_base(target="0"), r"spec\.objectives\[0\]\.target: 0 is not strictly between"),
    (_base(window="monthly"), r"spec\.timeWindow\[0\]\.duration: 'monthly' is not a duration"),
    (_base(window="1M"), r"spec\.timeWindow\[0\]\.duration: '1M' is not a duration"),
    (_base().replace("[{target: 0.99}]", "[{target: 0.99, op: lte, value: 0}]").replace(
        "availability", "latency"),
     r"spec\.objectives\[0\]\.value: 0 is not a positive"),
    (_base().replace("[{target: 0.99}]", "[{target: 0.99, op: lte, value: -3}]").replace(
        "availability", "latency"),
     r"spec\.objectives\[0\]\.value: -3 is not a positive"),
    (_base().replace("[{target: 0.99}]", "[{target: 0.99, op: gte, value: 3}]"),
     r"spec\.objectives\[0\]\.op: 'gte'"),
    (_base(kind="latency"), r"spec\.objectives\[0\]\.value: a latency SLO needs a threshold"),
    (_base().replace("annotations: {inferwatch/kind: availability}", "annotations: {}"),
     r"metadata\.annotations\[inferwatch/kind\]: missing"),
    (_base().replace("inferwatch/kind", "inferwatch/knd"),
     r"metadata\.annotations\[inferwatch/knd\]: unknown inferwatch field"),
    (_base(kind="freshness"), r"metadata\.annotations\[inferwatch/max-age\]: a freshness SLO"),
    (_base().replace("[{target: 0.99}]", "[]"), r"spec\.objectives: an SLO needs"),
    (_base().replace("[{target: 0.99}]", "[{op: lte}]"), r"spec\.objectives\[0\]\.target: miss"),
    (_base().replace("  indicator: {spec: {ratioMetric: {}}}\n", ""), r"spec\.indicator: an SLO"),
    (_base().replace("indicator: {spec: {ratioMetric: {}}}", "indicatorRef: nowhere"),
     r"spec\.indicatorRef: no SLI document named 'nowhere'"),
    (_base().replace("isRolling: true", "isRolling: false"), r"spec\.timeWindow\[0\]\.isRolling"),
    (_base().replace("  timeWindow: [{duration: 30d, isRolling: true}]\n", ""),
     r"spec\.timeWindow: missing"),
    (_base() + "  budgetingMethod: Timeslices\n", r"spec\.budgetingMethod: 'Timeslices'"),
    (_base() + "---\n" + _base(), r"metadata\.name: declared twice"),
])
def test_every_invalid_yaml_spec_names_file_slo_and_field(
    tmp_path: Path, text: str, field: str
) -> None:
    path = write(tmp_path, text, "team-slos.yaml")
    with pytest.raises(ConfigurationError, match=rf"^{path}: SLO 'api-slo': {field}"):
        load_slos(path)


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: openslo/v1alpha\nkind: SLO\n", r"document 1: apiVersion: 'openslo/v1alpha'"),
    ("- a\n- b\n", r"document 1 is a list"),
    ("key: [unclosed\n", r"not valid YAML"),
    (_base().replace("name: api-slo", "name: ''"), r"document 1: metadata\.name"),
])
def test_files_that_are_not_openslo_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError, match=rf"^{path}: {message}"):
        load_slos(path)


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the SLO file"):
        load_slos(tmp_path / "absent.yaml")


def test_missing_pyyaml_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, _base())
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'inferwatch\[slo\]'"):
        load_slos(path)


def test_the_readme_example_file_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## SLOs and error budgets"):]
    block = section[section.index("```yaml\n") + 8:]
    block = block[:block.index("```")]
    (slo,) = load_slos(write(tmp_path, block))
    assert slo == SLO("churn-latency", "latency", 0.99, model="churn", version="3",
                      threshold_ms=300)
