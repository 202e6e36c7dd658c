"""Fixtures of the SLO tests."""

from __future__ import annotations

import pytest
from slotools import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
