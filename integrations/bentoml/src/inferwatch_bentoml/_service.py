"""Add inferwatch's ASGI middleware to a BentoML 1.4 service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from inferwatch import MissingDependencyError
from inferwatch.asgi import InferenceMiddleware

__all__ = ["BentoInferenceMiddleware", "instrument_service", "service_model", "service_routes"]

S = TypeVar("S")


def _require_bentoml() -> Any:
    try:
        import bentoml
    except ImportError:
        raise MissingDependencyError(
            "inferwatch_bentoml needs BentoML 1.4: pip install inferwatch-bentoml"
        ) from None
    return bentoml


@overload
def instrument_service(service: S, /, **options: Any) -> S: ...


@overload
def instrument_service(service: None = None, /, **options: Any) -> Callable[[S], S]: ...


def instrument_service(service: Any = None, /, **options: Any) -> Any:
    """Monitor every request of a ``@bentoml.service`` with ``InferenceMiddleware``.

    Use it as a call or as a decorator above ``@bentoml.service``::

        svc = instrument_service(Churn, capture={"/predict": Capture(features=...)})

        @instrument_service(exclude_paths=("/healthz", "/readyz", "/livez", "/metrics"))
        @bentoml.service
        class Churn: ...

    ``options`` are those of ``inferwatch.asgi.InferenceMiddleware``. Unless
    given, ``model`` is the service's name and ``version`` comes from the
    service (see ``service_model``), read when BentoML builds the app, and
    ``model_routes`` are the routes of the service's ``@bentoml.api`` methods
    (see ``service_routes``): a call to one is an inference even when no
    ``@inferwatch.monitor`` predict runs inside it, while any other request (a
    404, a probe) counts in the HTTP metrics only. BentoML's probes
    (``/healthz``, ``/livez``, ``/readyz``, ``/metrics``) are excluded by
    default. Returns the service, so the decorator form keeps the name bound
    to it.
    """
    if service is None:

        def decorate(target: S) -> S:
            return instrument_service(target, **options)

        return decorate

    _require_bentoml()
    add = getattr(service, "add_asgi_middleware", None)
    if add is None or not callable(add):
        raise TypeError(
            f"instrument_service() needs a BentoML service, e.g. a class decorated with "
            f"@bentoml.service; got {type(service).__name__}. Decorate the class first, "
            f"then pass the result (or put @instrument_service above @bentoml.service)."
        )
    if any(cls is BentoInferenceMiddleware for cls, _ in getattr(service, "middlewares", ())):
        return service  # already instrumented: one record per request, not two
    options.setdefault("exclude_paths", _PROBES)
    add(BentoInferenceMiddleware, bentoml_service=service, **options)
    return service


class BentoInferenceMiddleware(InferenceMiddleware):
    """``InferenceMiddleware`` naming its model after the service when the app is built.

    BentoML builds the ASGI app in each worker after it has loaded the Bento,
    so the Bento's version is known then, not when the module is imported.
    """

    def __init__(self, app: Any, *, bentoml_service: Any, **options: Any) -> None:
        if options.get("model_routes") is None:
            options["model_routes"] = service_routes(bentoml_service)
        if options.get("model") is None or options.get("version") is None:
            name, version = service_model(bentoml_service)
            if options.get("model") is None:
                options["model"] = name
            if options.get("version") is None and version is not None:
                options["version"] = version
        super().__init__(app, **options)


#: BentoML's own endpoints that are not inferences.
_PROBES = ("/healthz", "/livez", "/readyz", "/metrics", "/docs.json", "/schema.json")


def service_routes(service: Any) -> tuple[str, ...]:
    """The routes of a BentoML service's ``@bentoml.api`` methods: its model endpoints.

    Task endpoints (``@bentoml.task``) are left out: the model runs after the
    submitting request has returned, so the request is not the inference.
    """
    routes = []
    for api in (getattr(service, "apis", None) or {}).values():
        route = getattr(api, "route", None)
        if isinstance(route, str) and route.startswith("/") and not getattr(api, "is_task", False):
            routes.append(route)
    return tuple(routes)


def service_model(service: Any) -> tuple[str, str | None]:
    """Model name and version of a BentoML service, as ``instrument_service`` sees them.

    The name is the service's name. The version is, in order: the version of
    the Bento the service was loaded from (when ``bentoml serve`` runs a built
    Bento), the ``version`` label of the service
    (``@bentoml.service(labels={"version": "3"})``), the tag version of the
    service's first BentoML model (``bentoml.models.BentoModel("churn:3")``,
    unless it is ``latest``), else None (the monitor's ``model_version``).
    """
    name = str(getattr(service, "name", None) or type(service).__name__)
    bento = getattr(service, "bento", None)
    tag = getattr(bento, "tag", None)
    version = getattr(tag, "version", None)
    if version:
        return name, str(version)
    labels = getattr(service, "labels", None) or {}
    if labels.get("version"):
        return name, str(labels["version"])
    for model in getattr(service, "models", None) or ():
        model_tag = getattr(model, "tag", None)
        model_version = getattr(model_tag, "version", None)
        if model_version and model_version != "latest":
            return name, str(model_version)
        break
    return name, None
