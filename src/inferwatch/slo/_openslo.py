"""Reading SLOs from OpenSLO v1 YAML (``inferwatch.slo.load_slos``).

The mapping, per ``kind: SLO`` document (other kinds are skipped, except
``kind: SLI`` documents, which ``spec.indicatorRef`` may name)::

    apiVersion: openslo/v1
    kind: SLO
    metadata:
      name: churn-latency                 -> SLO.name
      annotations:                        inferwatch's own fields, all optional:
        inferwatch/kind: latency          -> SLO.kind (availability, latency, drift,
                                             quality, freshness)
        inferwatch/model: churn           -> SLO.model
        inferwatch/version: "3"           -> SLO.version
        inferwatch/threshold-ms: "300"    -> SLO.threshold_ms (overrides objective value)
        inferwatch/max-age: 30d           -> SLO.max_age (freshness)
        inferwatch/metric: accuracy       -> SLO.metric (quality), with
        inferwatch/baseline: "0.91"       -> SLO.baseline,
        inferwatch/tolerance: "0.05"      -> SLO.tolerance and
        inferwatch/min-pairs: "200"       -> SLO.min_pairs (all quality)
    spec:
      description: p99 under 300 ms       -> SLO.description
      indicator: {...}                    or indicatorRef: <an SLI document's name>;
                                             required, as OpenSLO requires it; its
                                             queries are not read (inferwatch measures
                                             the SLI itself), its annotations are
                                             defaults for the SLO's
      timeWindow:
        - duration: 30d                   -> SLO.window (rolling; s, m, h, d, w)
          isRolling: true
      budgetingMethod: Occurrences        (the only method: good events / events)
      objectives:
        - target: 0.99                    -> SLO.target (or targetPercent: 99)
          op: lte                         a latency threshold: lte or lt,
          value: 300                      -> SLO.threshold_ms (milliseconds)

``kind`` comes from ``inferwatch/kind``; without it an objective with
``op``/``value`` is a latency SLO and anything else is an error (inferwatch
does not guess what a ratio of foreign queries means). Several objectives
make several SLOs, named ``<name>-<displayName>`` (or ``<name>-<index>``).
Every invalid spec raises ``ConfigurationError`` naming the file, the SLO and
the field as written in the file.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigurationError, MissingDependencyError
from ._spec import SLO, SpecError

__all__ = ["load_slos", "parse_slos"]

_API = "openslo/v1"
_PREFIX = "inferwatch/"
_ANNOTATIONS = ("kind", "model", "version", "threshold-ms", "max-age", "metric", "baseline",
                "tolerance", "min-pairs")
_THRESHOLD_OPS = ("lte", "lt")


def _yaml() -> Any:
    try:
        return importlib.import_module("yaml")
    except ImportError:
        raise MissingDependencyError(
            "reading SLOs from YAML needs PyYAML, which is not installed: "
            "pip install 'inferwatch[slo]' (or declare them in code with inferwatch.slo.SLO)"
        ) from None


def load_slos(path: str | os.PathLike[str]) -> list[SLO]:
    """The SLOs declared in an OpenSLO v1 YAML file (several ``---`` documents).

    ::

        slos = inferwatch.slo.load_slos("slos.yaml")
        inferwatch.configure(service_name="churn-api", slos=slos)

    Needs PyYAML (``pip install 'inferwatch[slo]'``). Raises
    ``ConfigurationError`` naming the file, the SLO and the field for every
    invalid spec, and for a file that cannot be read or parsed.
    """
    where = os.fspath(path)
    _yaml()  # a missing PyYAML is said before anything else
    try:
        with open(where, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{where}: cannot read the SLO file: {exc}") from None
    return parse_slos(text, source=where)


def parse_slos(text: str, *, source: str = "<string>") -> list[SLO]:
    """The SLOs in OpenSLO v1 YAML text; ``source`` names it in errors."""
    yaml = _yaml()
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: not valid YAML: {exc}") from None
    indicators: dict[str, Mapping[str, Any]] = {}
    slo_docs: list[tuple[int, Mapping[str, Any]]] = []
    for index, doc in enumerate(documents):
        if not isinstance(doc, Mapping):
            raise ConfigurationError(
                f"{source}: document {index + 1} is a {type(doc).__name__}, not an OpenSLO "
                "object (apiVersion, kind, metadata, spec)"
            )
        if doc.get("apiVersion") != _API:
            raise ConfigurationError(
                f"{source}: document {index + 1}: apiVersion: {doc.get('apiVersion')!r}; "
                f"inferwatch reads {_API!r}"
            )
        kind = doc.get("kind")
        if kind == "SLI":
            name = _metadata(doc).get("name")
            if isinstance(name, str):
                indicators[name] = doc
        elif kind == "SLO":
            slo_docs.append((index, doc))
    out: list[SLO] = []
    seen: set[str] = set()
    for index, doc in slo_docs:
        for slo in _from_document(doc, index, indicators, source):
            if slo.name in seen:
                raise ConfigurationError(
                    f"{source}: SLO {slo.name!r}: metadata.name: declared twice; "
                    "give each SLO its own name"
                )
            seen.add(slo.name)
            out.append(slo)
    return out


def _metadata(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _annotations(doc: Mapping[str, Any]) -> dict[str, Any]:
    raw = _metadata(doc).get("annotations")
    if not isinstance(raw, Mapping):
        return {}
    return {k[len(_PREFIX):]: v for k, v in raw.items()
            if isinstance(k, str) and k.startswith(_PREFIX)}


def _from_document(
    doc: Mapping[str, Any], index: int, indicators: Mapping[str, Mapping[str, Any]], source: str
) -> list[SLO]:
    name = _metadata(doc).get("name")

    def fail(field: str, problem: str, slo: Any = None) -> ConfigurationError:
        return ConfigurationError(f"{source}: SLO {slo or name!r}: {field}: {problem}")

    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(
            f"{source}: document {index + 1}: metadata.name: an SLO needs a name"
        )
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise fail("spec", "missing or not a mapping")
    notes: dict[str, Any] = {}
    if "indicator" in spec:
        indicator = spec["indicator"]
        if not isinstance(indicator, Mapping):
            raise fail("spec.indicator", "not a mapping")
        notes.update(_annotations(indicator))
    elif "indicatorRef" in spec:
        ref = spec["indicatorRef"]
        if ref not in indicators:
            known = ", ".join(sorted(indicators)) or "none"
            raise fail("spec.indicatorRef", f"no SLI document named {ref!r} in this file "
                       f"(SLIs here: {known})")
        notes.update(_annotations(indicators[ref]))
    else:
        raise fail("spec.indicator", "an SLO needs an indicator (or indicatorRef)")
    notes.update(_annotations(doc))
    unknown = sorted(set(notes) - set(_ANNOTATIONS))
    if unknown:
        raise fail(f"metadata.annotations[{_PREFIX}{unknown[0]}]",
                   f"unknown inferwatch field; known: "
                   f"{', '.join(_PREFIX + a for a in _ANNOTATIONS)}")
    window = _window(spec, fail)
    method = spec.get("budgetingMethod", "Occurrences")
    if method != "Occurrences":
        raise fail("spec.budgetingMethod", f"{method!r}: inferwatch budgets count "
                   "occurrences (good events / events); use Occurrences")
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise fail("spec.objectives", "an SLO needs at least one objective with a target")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise fail("spec.description", "must be a string")
    out = []
    for i, objective in enumerate(objectives):
        at = f"spec.objectives[{i}]"
        if not isinstance(objective, Mapping):
            raise fail(at, "not a mapping")
        slo_name = name if len(objectives) == 1 else f"{name}-{_suffix(objective, i)}"
        out.append(_objective(slo_name, objective, at, notes, window, description, fail))
    return out


def _suffix(objective: Mapping[str, Any], index: int) -> str:
    label = objective.get("displayName") or objective.get("name")
    if isinstance(label, str) and label.strip():
        return re.sub(r"[^A-Za-z0-9_.]+", "-", label.strip()).strip("-") or str(index)
    return str(index)


def _window(spec: Mapping[str, Any], fail: Any) -> str:
    windows = spec.get("timeWindow")
    if windows is None:
        raise fail("spec.timeWindow", "missing; write e.g. [{duration: 30d, isRolling: true}]")
    if isinstance(windows, Mapping):
        windows = [windows]
    if not isinstance(windows, list) or len(windows) != 1 or not isinstance(
        windows[0], Mapping
    ):
        raise fail("spec.timeWindow", "must hold exactly one window, e.g. "
                   "[{duration: 30d, isRolling: true}]")
    window = windows[0]
    if window.get("isRolling", True) is not True or "calendar" in window:
        raise fail("spec.timeWindow[0].isRolling", "calendar windows are not supported; "
                   "inferwatch budgets are rolling (isRolling: true)")
    duration = window.get("duration")
    if not isinstance(duration, str):
        raise fail("spec.timeWindow[0].duration", f"{duration!r} is not a duration; "
                   "write e.g. '30d', '4w' or '1h'")
    return duration


def _objective(
    slo_name: str, objective: Mapping[str, Any], at: str, notes: Mapping[str, Any],
    window: str, description: str, fail: Any,
) -> SLO:
    fields: dict[str, str] = {"kind": f"metadata.annotations[{_PREFIX}kind]",
                              "window": "spec.timeWindow[0].duration",
                              "model": f"metadata.annotations[{_PREFIX}model]",
                              "version": f"metadata.annotations[{_PREFIX}version]",
                              "max_age": f"metadata.annotations[{_PREFIX}max-age]",
                              "metric": f"metadata.annotations[{_PREFIX}metric]",
                              "baseline": f"metadata.annotations[{_PREFIX}baseline]",
                              "tolerance": f"metadata.annotations[{_PREFIX}tolerance]",
                              "min_pairs": f"metadata.annotations[{_PREFIX}min-pairs]",
                              "description": "spec.description"}
    if "target" in objective:
        target = objective["target"]
        fields["target"] = f"{at}.target"
    elif "targetPercent" in objective:
        raw = objective["targetPercent"]
        if not isinstance(raw, (int, float)) or isinstance(raw, bool):
            raise fail(f"{at}.targetPercent", f"{raw!r} is not a number", slo_name)
        target = round(raw / 100.0, 12)  # 99.9 / 100 is 0.9990000000000001
        fields["target"] = f"{at}.targetPercent"
    else:
        raise fail(f"{at}.target", "missing (e.g. target: 0.999)", slo_name)
    threshold: Any = None
    if "op" in objective or "value" in objective:
        op = objective.get("op")
        if op not in _THRESHOLD_OPS:
            raise fail(f"{at}.op", f"{op!r}: a latency threshold is an upper bound "
                       f"(op: lte or lt)", slo_name)
        threshold = objective.get("value")
        fields["threshold_ms"] = f"{at}.value"
    if "threshold-ms" in notes:
        threshold = _float(notes["threshold-ms"])
        fields["threshold_ms"] = f"metadata.annotations[{_PREFIX}threshold-ms]"
    kind = notes.get("kind")
    if kind is None:
        if threshold is None:
            raise fail(fields["kind"], "missing: say what the SLI is (availability, "
                       "latency, drift, quality or freshness); an objective with op/value "
                       "is taken as latency", slo_name)
        kind = "latency"
    fields.setdefault("threshold_ms", f"{at}.value")
    try:
        return SLO(
            slo_name, kind, target, window=window,
            model=_text(notes.get("model")), version=_text(notes.get("version")),
            threshold_ms=threshold, max_age=_text(notes.get("max-age")),
            metric=notes.get("metric"), baseline=_float(notes.get("baseline")),
            tolerance=_float(notes.get("tolerance")), min_pairs=_int(notes.get("min-pairs")),
            description=description,
        )
    except SpecError as exc:
        raise fail(fields.get(exc.field, exc.field), exc.problem, slo_name) from None


def _text(value: Any) -> Any:
    # YAML reads version: 3 as an int; annotations are strings in OpenSLO.
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else value


def _float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _int(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value
