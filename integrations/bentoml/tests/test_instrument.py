"""instrument_service and service_model, in-process."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import bentoml
import pytest

import inferwatch
from inferwatch_bentoml import BentoInferenceMiddleware, instrument_service, service_model

# Declaring a BentoML 1.4.40 service trips deprecations inside BentoML itself
# (pathspec's 'gitwildmatch' factory; pydantic's __get_pydantic_core_schema__):
# their warnings, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore::pydantic.warnings.PydanticDeprecatedSince211"
    ),
]


def _service(**kwargs: Any) -> Any:
    @bentoml.service(**kwargs)
    class Echo:
        @bentoml.api  # type: ignore[untyped-decorator]  # bentoml ships no type hints
        def echo(self, text: str) -> str:
            return text

    return Echo


def test_adds_one_middleware_named_after_the_service() -> None:
    svc = _service(name="echo", labels={"version": "5"})
    assert instrument_service(svc) is svc
    assert instrument_service(svc) is svc  # twice: still one middleware
    ours = [(cls, opts) for cls, opts in svc.middlewares if cls is BentoInferenceMiddleware]
    assert len(ours) == 1
    assert ours[0][1]["bentoml_service"] is svc
    assert service_model(svc) == ("echo", "5")


def test_decorator_form_passes_options() -> None:
    @instrument_service(model="custom", version="9", exclude_paths=("/healthz",))
    @bentoml.service
    class Other:
        @bentoml.api  # type: ignore[untyped-decorator]  # bentoml ships no type hints
        def echo(self, text: str) -> str:
            return text

    svc: Any = Other  # a bentoml.Service once decorated
    (_, options), *_ = [m for m in svc.middlewares if m[0] is BentoInferenceMiddleware]
    assert (options["model"], options["version"]) == ("custom", "9")
    assert options["exclude_paths"] == ("/healthz",)


def test_middleware_reads_the_model_when_built() -> None:
    svc = _service(name="late")
    svc.bento = SimpleNamespace(tag=SimpleNamespace(version="20260101"))  # as after loading
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["called"] = True

    middleware = BentoInferenceMiddleware(app, bentoml_service=svc)
    assert (middleware.model, middleware.version) == ("late", "20260101")
    explicit = BentoInferenceMiddleware(app, bentoml_service=svc, model="m", version="1")
    assert (explicit.model, explicit.version) == ("m", "1")


def test_service_model_version_sources() -> None:
    assert service_model(_service(name="plain")) == ("plain", None)
    model = SimpleNamespace(tag=SimpleNamespace(version="abc123"))
    assert service_model(SimpleNamespace(name="s", models=[model])) == ("s", "abc123")
    latest = SimpleNamespace(tag=SimpleNamespace(version="latest"))
    assert service_model(SimpleNamespace(name="s", models=[latest])) == ("s", None)


def test_rejects_what_is_not_a_service() -> None:
    class NotDecorated:
        pass

    with pytest.raises(TypeError, match=r"@bentoml.service"):
        instrument_service(NotDecorated)


def test_missing_bentoml_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bentoml", None)
    with pytest.raises(inferwatch.MissingDependencyError, match="pip install inferwatch-bentoml"):
        instrument_service(SimpleNamespace(add_asgi_middleware=lambda *a, **k: None))
