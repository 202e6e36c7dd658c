"""inferwatch for FastAPI: ``instrument_app(app)`` adds the inference middleware.

::

    from fastapi import FastAPI
    from inferwatch_fastapi import instrument_app

    app = FastAPI()
    instrument_app(app, model="churn", status_routes=True)

It adds :class:`inferwatch.asgi.InferenceMiddleware` with ``app.add_middleware``
(FastAPI's own classes are never replaced), so it must run before the app
serves its first request. With ``status_routes=True`` it also mounts
:class:`inferwatch.status.StatusApp`: ``GET /inferwatch`` (the status page)
and ``GET /inferwatch/status`` (the status document as JSON, a superset of
``Monitor.summary()``), both excluded from monitoring and from the OpenAPI
schema; ``status_token=`` protects them with a bearer token. ``labels=True``
(with the token) adds ``POST /inferwatch/labels``, where delayed labels and
outcomes are posted for the monitor's label tracker (see
:mod:`inferwatch.labels`)::

    inferwatch.labels.track(positive=1)
    instrument_app(app, status_routes=True, status_token=os.environ["STATUS_TOKEN"],
                   labels=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferwatch import ConfigurationError, MissingDependencyError
from inferwatch.asgi import Capture, InferenceMiddleware

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["LABELS_PATH", "STATUS_PAGE_PATH", "STATUS_PATH", "Capture",
           "InferenceMiddleware", "instrument_app"]

__version__ = "0.2.0"

#: Path of the status route mounted by ``instrument_app(..., status_routes=True)``.
STATUS_PATH = "/inferwatch/status"
#: Path of the status page mounted beside it.
STATUS_PAGE_PATH = "/inferwatch"
#: Path of the labels route mounted by ``instrument_app(..., labels=True)``.
LABELS_PATH = "/inferwatch/labels"


def _fastapi_class() -> type[FastAPI]:
    try:
        from fastapi import FastAPI
    except ImportError:
        raise MissingDependencyError(
            "inferwatch_fastapi.instrument_app needs FastAPI, which is not installed: "
            "run `pip install inferwatch-fastapi` (it installs fastapi too)"
        ) from None
    return FastAPI


def instrument_app(
    app: FastAPI, *, status_routes: bool = False, status_token: str | None = None,
    labels: bool = False, **middleware_options: Any
) -> FastAPI:
    """Add inferwatch's inference middleware to a FastAPI app; returns the app.

    ``middleware_options`` are those of :class:`inferwatch.asgi.InferenceMiddleware`
    (``monitor``, ``model``, ``version``, ``capture``, ``model_routes``,
    ``exclude_paths`` (added to ``inferwatch.asgi.DEFAULT_EXCLUDED_PATHS``) …).
    Calling it twice on one app is a no-op the second time. ``status_token``
    (with ``status_routes=True``) makes both status routes answer 401 unless
    the request carries ``Authorization: Bearer <token>``. ``labels=True``
    (off by default; it needs ``status_routes=True`` and ``status_token``,
    since the route writes) also mounts ``POST /inferwatch/labels`` of
    :class:`inferwatch.status.StatusApp` (``labels=True``), excluded from
    monitoring and from the OpenAPI schema like the status routes.

    Raises:
        MissingDependencyError: FastAPI is not installed.
        ConfigurationError: a middleware option is invalid, or ``labels=True``
            lacks ``status_routes=True`` or ``status_token``.
        TypeError: ``app`` is not a FastAPI application.
    """
    if not isinstance(app, _fastapi_class()):
        raise TypeError(
            f"instrument_app needs a fastapi.FastAPI application, not {type(app).__name__}; "
            "for any other ASGI app wrap it: InferenceMiddleware(app, ...)"
        )
    if getattr(app.state, "inferwatch_instrumented", False):
        return app
    if labels and not status_routes:
        raise ConfigurationError("labels=True mounts the labels route with the status routes: "
                                 "pass status_routes=True as well")
    if labels and status_token is None:
        raise ConfigurationError("labels=True serves a route that writes: pass status_token= "
                                 "(every POST must carry Authorization: Bearer <token>)")
    # The middleware adds its DEFAULT_EXCLUDED_PATHS (/health, ...) to these.
    exclude: Any = middleware_options.pop("exclude_paths", ())
    if status_routes and not isinstance(exclude, str):  # one string: the middleware says so
        exclude = (*exclude, STATUS_PATH, STATUS_PAGE_PATH, *((LABELS_PATH,) if labels else ()))
    # Validate the options now rather than at the first request.
    InferenceMiddleware(_no_app, exclude_paths=exclude, **middleware_options)
    if status_routes:
        _add_status_routes(app, middleware_options.get("monitor"), status_token, labels)
    app.add_middleware(InferenceMiddleware, exclude_paths=exclude, **middleware_options)
    app.state.inferwatch_instrumented = True
    return app


async def _no_app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
    raise RuntimeError("placeholder app used only to validate options")


def _add_status_routes(app: FastAPI, monitor: Any, token: str | None, labels: bool) -> None:
    from inferwatch.status import StatusApp
    from starlette.routing import Route

    # One app serves every path (a Route passes the full path); it answers the labels
    # route's 401, 405, 413, 415 and 422 itself.
    status = StatusApp(monitor, token, labels=labels)
    routes = [(STATUS_PAGE_PATH, "inferwatch_status_page"), (STATUS_PATH, "inferwatch_status")]
    if labels:
        routes.append((LABELS_PATH, "inferwatch_labels"))
    for path, name in routes:
        app.router.routes.append(Route(path, status, name=name, include_in_schema=False))
