"""``inferwatch.stage``: time a stage of the current inference."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._context import _current
from ._record import InferenceRecord

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["stage"]

F = TypeVar("F", bound=Callable[..., Any])


class stage:
    """Time a stage of the current inference: a context manager and a decorator.

    ::

        with inferwatch.stage("features"):
            x = featurize(request)

        @inferwatch.stage("postprocess")
        def postprocess(y): ...

    The stage's time is added to the record of the monitored call running in
    this context (found through contextvars, so it works across ``await`` and
    in nested calls). Outside a monitored call it does nothing. A stage
    entered twice in one call accumulates.
    """

    __slots__ = ("_record", "_t0", "name")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a stage needs a non-empty name, e.g. stage('features')")
        self.name = name
        self._record: InferenceRecord | None = None
        self._t0 = 0

    def __enter__(self) -> stage:
        self._record = _current.get()
        self._t0 = perf_counter_ns()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        record = self._record
        if record is not None:
            self._record = None
            record.add_stage(self.name, perf_counter_ns() - self._t0)

    async def __aenter__(self) -> stage:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        name = self.name
        make = type(self)  # a subclass (inferwatch.gpu_stage) times its own way
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_timed(*args: Any, **kwargs: Any) -> Any:
                with make(name):
                    return await func(*args, **kwargs)

            return cast(F, async_timed)

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with make(name):
                return func(*args, **kwargs)

        return cast(F, timed)
