"""Data helpers shared by the drift tests."""

from __future__ import annotations

from typing import Any

import numpy as np

NAMES = [f"x{i}" for i in range(4)]


def make_rows(n: int, seed: int, shift: dict[str, float] | None = None) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    for name, delta in (shift or {}).items():
        x[:, NAMES.index(name)] += delta
    colors = rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]).tolist()
    return [{**dict(zip(NAMES, row, strict=True)), "color": c}
            for row, c in zip(x.tolist(), colors, strict=True)]
