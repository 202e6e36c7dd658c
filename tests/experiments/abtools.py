"""Constants the experiment tests share (a module of its own: ``conftest`` names collide)."""

from __future__ import annotations

DAY = 86400.0
NOW = 1_800_000_000.0
KEY = "hex:" + "5e" * 32
