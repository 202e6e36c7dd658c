"""inferwatch for FastAPI: ``instrument_app(app)`` adds the inference middleware.

::

    from fastapi import FastAPI
    from inferwatch_fastapi import instrument_app

    app = FastAPI()
    instrument_app(app, model="churn", status_routes=True)

It adds :class:`inferwatch.asgi.InferenceMiddleware` with ``app.add_middleware``
(FastAPI's own classes are never replaced), so it must run before the app
serves its first request. With ``status_routes=True`` it also mounts
``GET /inferwatch/status``, returning ``Monitor.summary()`` as JSON (excluded
from monitoring and from the OpenAPI schema).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferwatch import MissingDependencyError
from inferwatch.asgi import Capture, InferenceMiddleware

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["STATUS_PATH", "Capture", "InferenceMiddleware", "instrument_app"]

__version__ = "0.2.0"

#: Path of the status route mounted by ``instrument_app(..., status_routes=True)``.
STATUS_PATH = "/inferwatch/status"


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
    app: FastAPI, *, status_routes: bool = False, **middleware_options: Any
) -> FastAPI:
    """Add inferwatch's inference middleware to a FastAPI app; returns the app.

    ``middleware_options`` are those of :class:`inferwatch.asgi.InferenceMiddleware`
    (``monitor``, ``model``, ``version``, ``capture``, ``model_routes``,
    ``exclude_paths`` (added to ``inferwatch.asgi.DEFAULT_EXCLUDED_PATHS``) …).
    Calling it twice on one app is a no-op the second time.

    Raises:
        MissingDependencyError: FastAPI is not installed.
        ConfigurationError: a middleware option is invalid.
        TypeError: ``app`` is not a FastAPI application.
    """
    if not isinstance(app, _fastapi_class()):
        raise TypeError(
            f"instrument_app needs a fastapi.FastAPI application, not {type(app).__name__}; "
            "for any other ASGI app wrap it: InferenceMiddleware(app, ...)"
        )
    if getattr(app.state, "inferwatch_instrumented", False):
        return app
    # The middleware adds its DEFAULT_EXCLUDED_PATHS (/health, ...) to these.
    exclude: Any = middleware_options.pop("exclude_paths", ())
    if status_routes and not isinstance(exclude, str):  # one string: the middleware says so
        exclude = (*exclude, STATUS_PATH)
    # Validate the options now rather than at the first request.
    InferenceMiddleware(_no_app, exclude_paths=exclude, **middleware_options)
    if status_routes:
        _add_status_route(app, middleware_options.get("monitor"))
    app.add_middleware(InferenceMiddleware, exclude_paths=exclude, **middleware_options)
    app.state.inferwatch_instrumented = True
    return app


async def _no_app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
    raise RuntimeError("placeholder app used only to validate options")


def _add_status_route(app: FastAPI, monitor: Any) -> None:
    from inferwatch import get_monitor

    def inferwatch_status() -> dict[str, Any]:
        """SLIs per model, sampling and drop counts of this process (``Monitor.summary()``)."""
        summary = (monitor if monitor is not None else get_monitor()).summary()
        summary["pid"] = _pid()
        return summary

    app.add_api_route(
        STATUS_PATH, inferwatch_status, methods=["GET"], include_in_schema=False,
        name="inferwatch_status",
    )


def _pid() -> int:
    import os

    return os.getpid()
