"""Fresh infrastructure state per test: the CUDA event queue, torch as found, the GPU reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inferwatch.infra import _cuda, _nvml


@pytest.fixture(autouse=True)
def _fresh_infra(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    _cuda.PENDING._init()
    monkeypatch.setattr(_cuda, "_CUDA", _cuda._Cuda())
    monkeypatch.setattr(_nvml, "_default", None)
    yield
    _cuda.PENDING._init()
