"""A BentoML 1.4 service monitored by inferwatch.

A small numpy model (logistic regression over 4 features) behind a BentoML
API. ``instrument_service`` adds inferwatch's ASGI middleware to the service:
each request becomes one inference record, named after the service
(``churn``) with the version from its ``version`` label (or the Bento's
version when served from a built Bento).

Run it (in an environment with ``inferwatch-bentoml`` installed; see
integrations/bentoml/README or the project's CI script)::

    cd examples && bentoml serve bentoml_service:Churn --port 3000
    curl -s -X POST localhost:3000/predict -H 'content-type: application/json' \\
         -d '{"rows": [[0.1, 0.2, 0.3, 0.4]]}'

Records go to stdout as JSON lines by default; set ``INFERWATCH_LOG_SINK=file``
and ``INFERWATCH_LOG_FILE=path`` to write them to a file instead.
"""

from __future__ import annotations

import bentoml
import numpy as np
from inferwatch_bentoml import instrument_service

WEIGHTS = np.array([0.8, -1.2, 0.3, 2.0])
BIAS = -0.1


@instrument_service
@bentoml.service(name="churn", labels={"version": "3"}, workers=1)
class Churn:
    """Churn probability per row of 4 features."""

    @bentoml.api  # type: ignore[untyped-decorator]  # bentoml ships no type hints
    def predict(self, rows: list[list[float]]) -> list[float]:
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != WEIGHTS.size:
            raise bentoml.exceptions.InvalidArgument(
                f"rows must be a list of {WEIGHTS.size}-number lists"
            )
        probability: np.ndarray = 1.0 / (1.0 + np.exp(-(x @ WEIGHTS + BIAS)))
        return [round(float(p), 4) for p in probability]
