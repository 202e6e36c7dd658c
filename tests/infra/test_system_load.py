"""What system_metrics=True says when OpenTelemetry's instrumentation cannot be imported."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from inferwatch import MissingDependencyError
from inferwatch.infra import _system


def _failing(name: str | None) -> Any:
    def import_module(module: str) -> Any:
        if module == "opentelemetry.instrumentation.system_metrics":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return importlib.import_module(module)

    return import_module


def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_system.importlib, "import_module",
                        _failing("opentelemetry.instrumentation"))
    with pytest.raises(MissingDependencyError, match=r"pip install 'inferwatch\[system\]'"):
        _system._load()


def test_an_old_release_without_pkg_resources_says_to_upgrade(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_system.importlib, "import_module", _failing("pkg_resources"))
    with pytest.raises(MissingDependencyError, match=r"needs pkg_resources.*>=0\.49b0"):
        _system._load()
