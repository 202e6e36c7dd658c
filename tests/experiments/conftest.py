"""Shared helpers of the experiment tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A key in the developer's environment must not change what the tests see.
    for name in ("INFERWATCH_EXPERIMENT_KEY", "INFERWATCH_PII_KEY", "INFERWATCH_PII_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
