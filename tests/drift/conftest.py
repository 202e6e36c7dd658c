from __future__ import annotations

import numpy as np
import pytest
from driftdata import make_rows

import inferwatch.drift as drift


@pytest.fixture(scope="session")
def profile() -> drift.ReferenceProfile:
    rows = make_rows(20_000, seed=1)
    preds = np.random.default_rng(2).random(20_000)
    return drift.build_profile(rows, prediction=preds, model_name="m")
