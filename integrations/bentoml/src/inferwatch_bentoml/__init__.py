"""BentoML support for inferwatch (``pip install inferwatch-bentoml``).

::

    import bentoml
    from inferwatch_bentoml import instrument_service

    @instrument_service
    @bentoml.service(labels={"version": "3"})
    class Churn:
        @bentoml.api
        def predict(self, rows: list[list[float]]) -> list[float]: ...

Every HTTP request to the service becomes one inference record, through
``inferwatch.asgi.InferenceMiddleware`` added with BentoML's own
``Service.add_asgi_middleware``; a ``@inferwatch.monitor`` predict inside an
API method fills in the same record.
"""

from __future__ import annotations

from ._service import (
    BentoInferenceMiddleware,
    instrument_service,
    service_model,
    service_routes,
)

__version__ = "0.2.0"

__all__ = [
    "BentoInferenceMiddleware",
    "__version__",
    "instrument_service",
    "service_model",
    "service_routes",
]
