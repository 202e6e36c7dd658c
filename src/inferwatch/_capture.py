"""Capture: the ``monitor`` decorator.

This is the request path. Per call it does a fixed, small amount of work:
read the clock twice, build one ``InferenceRecord``, copy the features if
anything will read them (``Monitor._update_feature_policy``) and hand the
record to the monitor's bounded buffer. Everything else happens
off the request path. Failures of inferwatch's own code (an extractor that
raises, a feature value that cannot be copied) are counted and survived; the
wrapped call's own exception propagates unchanged.

Plain functions are wrapped with a closure (``functools.wraps``): measured
here, a closure adds about 65 ns per call and a ``wrapt.FunctionWrapper``
about 430 ns, a fifth of the whole 2 µs budget. Callable objects (a model
instance with ``__call__``) are wrapped with a ``wrapt.ObjectProxy`` so the
model's own attributes stay reachable through the wrapper.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, TypeVar, overload

import wrapt

from . import _process
from ._context import (
    _count_internal_error,
    _current,
    _reraise_fatal,
    begin_transport,
    current_record,
    end_transport,
    internal_error_count,
    new_record,
    set_attribute,
    set_attributes,
)
from ._record import Endpoint, InferenceRecord
from ._snapshot import _IMMUTABLE, TOO_LARGE, infer_batch_size, snapshot_rows, snapshot_sized
from ._spans import _trace_ids
from ._stage import stage

if TYPE_CHECKING:
    from ._monitor import Monitor

# Names other modules and the integrations import from here, kept for them.
__all__ = [
    "_current",
    "_trace_ids",
    "begin_transport",
    "current_record",
    "end_transport",
    "internal_error_count",
    "monitor",
    "new_record",
    "set_attribute",
    "set_attributes",
    "stage",
]

F = TypeVar("F", bound=Callable[..., Any])


class _Spec:
    """Options of one decorated function, and its endpoint per monitor."""

    __slots__ = (
        "attributes",
        "batch_size",
        "bound",
        "confidence",
        "features",
        "features_name",
        "features_position",
        "inference_id",
        "model_name",
        "model_version",
        "monitor",
        "name",
        "prediction",
    )

    def __init__(
        self,
        name: str,
        model_name: str | None,
        model_version: str | None,
        features: Callable[..., Any] | tuple[str, int] | None,
        prediction: Callable[[Any], Any] | None,
        confidence: Callable[[Any], Any] | None,
        batch_size: Callable[..., int] | None,
        inference_id: Callable[..., str | None] | None,
        attributes: Mapping[str, Any] | None,
        monitor: Monitor | None,
    ) -> None:
        self.name = name
        self.model_name = model_name
        self.model_version = model_version
        # features is either a callable, or (parameter name, position) read
        # straight from the call's arguments without a function call.
        if isinstance(features, tuple):
            self.features_name, self.features_position = features
            self.features: Callable[..., Any] | None = None
        else:
            self.features_name, self.features_position = "", -1
            self.features = features
        self.prediction = prediction
        self.confidence = confidence
        self.batch_size = batch_size
        self.inference_id = inference_id
        self.attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
        self.monitor = monitor
        self.bound: tuple[Monitor, Endpoint] | None = None

    def bind(self, mon: Monitor) -> tuple[Monitor, Endpoint]:
        """Bind this function to ``mon``: its endpoint there, cached until the monitor changes.

        The process default is looked up per call (in ``_begin``), so
        ``configure()`` called after decoration takes effect.
        """
        endpoint = mon.endpoint(
            self.model_name or mon.config.model_name or self.name,
            self.model_version or mon.config.model_version,
            self.attributes,
            self.name,
        )
        self.bound = (mon, endpoint)
        return self.bound


# The state of one call between _begin and _finish: (monitor, record, context
# token (None when the call joined a transport's record, which is current
# already), features left uncopied for a late decision, start time). A tuple,
# because it is built on every call.
_CallState = tuple[
    "Monitor", InferenceRecord, "contextvars.Token[InferenceRecord | None] | None", Any, int
]


def _caller_inference_id(
    spec: _Spec, mon: Monitor, parent: InferenceRecord | None,
    args: tuple[Any, ...], kwargs: dict[str, Any],
) -> str | None:
    """The id from the caller's extractor, else the enclosing call's (same inference)."""
    if spec.inference_id is not None:
        try:
            value = spec.inference_id(*args, **kwargs)
            # An id is text: anything else is made text here (or, if even that
            # fails, replaced by a generated id and counted).
            return value if value is None or type(value) is str else str(value)
        except BaseException as error:
            _reraise_fatal(error)
            mon.count_error("inference_id_extractor")
            return None
    return parent.id if parent is not None else None


def _begin(spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _CallState | None:
    # The request path: every line here costs on every call (see module docs).
    try:
        mon = spec.monitor
        if mon is None:
            mon = _process._default or _process.get_monitor()
        bound = spec.bound
        if bound is None or bound[0] is not mon:
            bound = spec.bind(mon)
        if not mon.enabled:
            return None
        endpoint = bound[1]
        parent = _current.get()
        if parent is not None and parent.closed:
            # The request this context belonged to is over (a background task
            # runs after the response): a call now is an inference of its own.
            parent = None
        if parent is not None and parent.joinable:
            # A transport (ASGI, gRPC) opened this request's record and made it
            # current: fill it in rather than write a second record for the
            # same inference.
            parent.joinable = False
            parent.inference = True
            parent.endpoint = endpoint
            if parent.trace_id == 0:
                # A tracing middleware inside the transport's (OTel's, added after
                # ours) has started its span by now: take the ids from it.
                parent.trace_id, parent.span_id = _trace_ids()
            record = parent
            joined = True
        else:
            inference_id = None
            if parent is not None or spec.inference_id is not None:
                inference_id = _caller_inference_id(spec, mon, parent, args, kwargs)
            trace_id, span_id = _trace_ids()
            # Timestamp and generated id are filled in off the request path
            # (see InferenceRecord).
            record = InferenceRecord(endpoint, 0, 0, 0, inference_id, trace_id, span_id)
            joined = False
        late = None
        position = spec.features_position
        if position >= 0 or spec.features is not None:
            try:
                if position >= 0:
                    features = args[position] if position < len(args) else kwargs[
                        spec.features_name]
                else:
                    features = spec.features(*args, **kwargs)  # type: ignore[misc]
                # Copy the features only if they will be read (see
                # Monitor._update_feature_policy); else keep them uncopied for a
                # late decision in _finish.
                record.has_features = True
                copy = mon._features_copy
                if copy is None:
                    copy = mon._sampling_hash(record) < mon._feature_bound
                if copy:
                    copied, record.batch_size, size = snapshot_rows(
                        features, mon._max_record_bytes)
                    if copied is TOO_LARGE:  # counted; the call itself still counts
                        mon.count_dropped("record_too_large")
                    else:
                        _admit_features(mon, record, copied, size)
                else:
                    if type(features) is not dict:  # a dict is one row
                        record.batch_size = infer_batch_size(features)
                    if mon._features_late:
                        late = features
            except BaseException as error:
                _reraise_fatal(error)
                mon.count_error("features_extractor")
        if spec.batch_size is not None:
            try:
                record.batch_size = int(spec.batch_size(*args, **kwargs))
            except BaseException as error:
                _reraise_fatal(error)
                mon.count_error("batch_size_extractor")
        token = None if joined else _current.set(record)
        next(endpoint.starts)
        return mon, record, token, late, perf_counter_ns()
    except BaseException as error:  # inferwatch must never break the call
        _reraise_fatal(error)
        _count_internal_error()
        return None


def _admit_features(mon: Monitor, record: InferenceRecord, copied: Any, size: int) -> None:
    """Keep a features copy unless it takes the bytes admitted since the last
    drain past ``buffer_bytes``; then the call still counts, without them."""
    pending = mon._pending_bytes + size
    mon._pending_bytes = pending
    if pending <= mon._buffer_bytes:
        record.features = copied
    else:
        mon.count_dropped("buffer_bytes_full")


def _finish(spec: _Spec, call: _CallState, result: Any, exc: BaseException | None) -> None:
    t1 = perf_counter_ns()
    mon, record, token, late, t0 = call
    try:
        next(record.endpoint.ends)
        record.duration_ns = t1 - t0
        if token is not None:  # the record is this call's own
            _current.reset(token)
            record.start_perf_ns = t0
        if exc is not None:
            record.set_error(
                exc, "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
            )
        else:
            if spec.prediction is not None:
                try:
                    result = spec.prediction(result)
                except BaseException as error:
                    _reraise_fatal(error)
                    mon.count_error("prediction_extractor")
                    result = None
            if type(result) in _IMMUTABLE:
                record.prediction = result
            else:
                try:
                    copied, size = snapshot_sized(result, mon._max_record_bytes)
                    if copied is TOO_LARGE:
                        mon.count_dropped("prediction_too_large")
                    else:
                        pending = mon._pending_bytes + size
                        mon._pending_bytes = pending
                        if pending <= mon._buffer_bytes:
                            record.prediction = copied
                        else:  # past the byte bound: the call counts, its values do not
                            mon.count_dropped("buffer_bytes_full")
                except BaseException as error:  # an uncopyable result: the call still counts
                    _reraise_fatal(error)
                    mon.count_error("prediction_snapshot")
            if spec.confidence is not None:
                try:
                    confidence = spec.confidence(result)
                    if type(confidence) in _IMMUTABLE:  # a plain number: nothing to copy
                        record.confidence = confidence
                    else:
                        copied, size = snapshot_sized(confidence, mon._max_record_bytes)
                        if copied is TOO_LARGE:
                            mon.count_dropped("prediction_too_large")
                        else:
                            record.confidence = copied
                except BaseException as error:
                    _reraise_fatal(error)
                    mon.count_error("confidence_extractor")
        if late is not None and (exc is not None or mon._always_kept(record, False) is not None):
            try:  # an always-kept rule applies, so the log wants them: copy now
                copied, size = snapshot_sized(late, mon._max_record_bytes)
                if copied is TOO_LARGE:
                    mon.count_dropped("record_too_large")
                else:
                    _admit_features(mon, record, copied, size)
            except BaseException as error:
                _reraise_fatal(error)
                mon.count_error("features_snapshot")
        if token is not None:
            queue = mon._queue  # Monitor.submit, inlined: this runs on every call
            if len(queue) < mon._capacity:
                queue.append(record)
            else:
                mon._overflow(record)
    except BaseException as error:
        _reraise_fatal(error)
        _count_internal_error()


@overload
def monitor(func: F, /) -> F: ...


@overload
def monitor(
    func: None = None,
    /,
    *,
    model: str | None = ...,
    version: str | None = ...,
    features: Callable[..., Any] | str | None = ...,
    prediction: Callable[[Any], Any] | None = ...,
    confidence: Callable[[Any], Any] | None = ...,
    batch_size: Callable[..., int] | None = ...,
    inference_id: Callable[..., str | None] | None = ...,
    attributes: Mapping[str, Any] | None = ...,
    monitor: Monitor | None = ...,
    name: str | None = ...,
) -> Callable[[F], F]: ...


def monitor(
    func: Any = None,
    /,
    *,
    model: str | None = None,
    version: str | None = None,
    features: Callable[..., Any] | str | None = None,
    prediction: Callable[[Any], Any] | None = None,
    confidence: Callable[[Any], Any] | None = None,
    batch_size: Callable[..., int] | None = None,
    inference_id: Callable[..., str | None] | None = None,
    attributes: Mapping[str, Any] | None = None,
    monitor: Monitor | None = None,
    name: str | None = None,
) -> Any:
    """Monitor a predict function, method or callable model.

    ::

        @inferwatch.monitor(model="churn", version="3", features="x",
                            confidence=lambda y: y.max(axis=1))
        def predict(x: np.ndarray) -> np.ndarray: ...

    Args:
        model, version: model name and version (default: the configured
            ``model_name``/``model_version``, else the function's name).
        features: the name of the parameter holding the features, or a
            callable taking the same arguments as the function and returning
            them (a mapping, a sequence, a 1-D row or a 2-D batch).
        prediction: maps the return value to the prediction (default: the
            return value itself).
        confidence: maps the prediction to a confidence in [0, 1] (a number,
            or one per row for a batch).
        batch_size: maps the call's arguments to the number of rows; by
            default inferred from the features (a 2-D array or a list of rows
            is a batch).
        inference_id: maps the call's arguments to a caller-supplied id.
        attributes: static attributes (e.g. ``{"variant": "B"}``), put on
            every record and metric of this function.
        monitor: the ``Monitor`` to report to (default: the process default
            from ``inferwatch.configure``).
        name: the function's display name (default: its qualified name).
    """

    def decorate(target: Any) -> Any:
        display = name or getattr(target, "__qualname__", None) or type(target).__name__
        spec = _Spec(
            display,
            model,
            version,
            _features_getter(target, features),
            prediction,
            confidence,
            batch_size,
            inference_id,
            attributes,
            monitor,
        )
        return _wrap(target, spec)

    if func is not None:
        return decorate(func)
    return decorate


def _features_getter(
    target: Any, features: Callable[..., Any] | str | None
) -> Callable[..., Any] | tuple[str, int] | None:
    if features is None or callable(features):
        return features
    if not isinstance(features, str):
        raise TypeError(
            f"features= must be a parameter name or a callable, not {type(features).__name__}"
        )
    func = target.__call__ if not inspect.isroutine(target) else target
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        raise TypeError(
            f"features={features!r}: cannot read the signature of {target!r}; pass a callable"
        ) from None
    params = list(signature.parameters)
    if features not in params:
        raise TypeError(
            f"features={features!r} is not a parameter of {getattr(target, '__qualname__', target)}"
            f"; its parameters are: {', '.join(params)}"
        )
    # For a method decorated in its class body the call receives self too,
    # which is also the first parameter: positions line up either way.
    return features, params.index(features)


def _wrap(target: Any, spec: _Spec) -> Any:
    is_routine = inspect.isroutine(target)
    call_target = target if is_routine else getattr(target, "__call__", None)  # noqa: B004
    if call_target is None:
        raise TypeError(f"inferwatch.monitor needs a callable, got {type(target).__name__}")
    if inspect.isgeneratorfunction(call_target) or inspect.isasyncgenfunction(call_target):
        raise TypeError(
            f"inferwatch.monitor cannot time a generator function "
            f"({getattr(target, '__qualname__', target)}): its work happens after it "
            "returns. Decorate the function that computes the whole prediction, or "
            "collect the stream in the monitored function."
        )
    is_async = inspect.iscoroutinefunction(call_target)

    if is_async:

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = _begin(spec, args, kwargs)
            if call is None:
                return await target(*args, **kwargs)
            try:
                result = await target(*args, **kwargs)
            except BaseException as exc:
                _finish(spec, call, None, exc)
                raise
            _finish(spec, call, result, None)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = _begin(spec, args, kwargs)
            if call is None:
                return target(*args, **kwargs)
            try:
                result = target(*args, **kwargs)
            except BaseException as exc:
                _finish(spec, call, None, exc)
                raise
            _finish(spec, call, result, None)
            return result

        wrapper = sync_wrapper

    if is_routine:
        return functools.wraps(target)(wrapper)
    return _MonitoredCallable(target, wrapper)


class _MonitoredCallable(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A callable model wrapped so its own attributes stay reachable."""

    def __init__(self, target: Any, wrapper: Callable[..., Any]) -> None:
        super().__init__(target)
        self._self_call = wrapper

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_call(*args, **kwargs)
