"""The one record inferwatch keeps per inference call.

A record is built on the request path, so it is a plain ``__slots__`` class with
positional construction: no dataclass machinery, no validation, no copying
beyond what capture decided was needed to make its fields safe to keep.
Everything expensive (rendering, hashing, binning) happens later, off the
request path, on batches of records.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

__all__ = ["Endpoint", "HttpInfo", "InferenceRecord", "count_value", "rpc_method"]


class Endpoint:
    """What is fixed for every call of one monitored function.

    Records point at their endpoint instead of copying model name, version and
    static attributes, so building a record costs the same however many static
    attributes there are.
    """

    __slots__ = (
        "attributes", "ends", "key", "model_name", "model_version", "name", "series", "starts",
    )

    def __init__(
        self,
        name: str,
        model_name: str,
        model_version: str,
        attributes: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.model_name = model_name
        self.model_version = model_version
        self.attributes: dict[str, str] = dict(attributes or {})
        #: Hashable identity used to key aggregated series.
        self.key: tuple[str, str, tuple[tuple[str, str], ...]] = (
            model_name,
            model_version,
            tuple(sorted(self.attributes.items())),
        )
        # Calls started and finished; next() on itertools.count is atomic under
        # the GIL, so in-flight = started - finished stays exact across threads.
        self.starts = itertools.count()
        self.ends = itertools.count()
        #: The endpoint whose series this one's calls are aggregated into: two
        #: functions serving the same model, version and attributes share one
        #: series (their display names differ only in the logs).
        self.series: Endpoint = self

    @property
    def in_flight(self) -> int:
        return count_value(self.starts) - count_value(self.ends)

    def __repr__(self) -> str:
        return f"Endpoint({self.model_name!r}, {self.model_version!r}, {self.attributes!r})"


_getrandbits = random.getrandbits


def count_value(counter: itertools.count[int]) -> int:
    """Read an ``itertools.count`` without advancing it (its repr is ``count(N)``)."""
    return int(repr(counter)[6:-1])


def rpc_method(full_method: str) -> str:
    """``/pkg.Service/Method`` as semantic conventions write it: ``pkg.Service/Method``."""
    return full_method[1:] if full_method.startswith("/") else full_method


class HttpInfo:
    """Transport-level facts filled in by the ASGI middleware or gRPC interceptor."""

    __slots__ = (
        "duration_ns",
        "method",
        "protocol_version",
        "request_size",
        "response_size",
        "route",
        "scheme",
        "status_code",
        "system",
        "ttfb_ns",
    )

    def __init__(
        self,
        system: str = "http",
        method: str = "",
        route: str = "",
        scheme: str = "",
        protocol_version: str = "",
    ) -> None:
        self.system = system  # "http" or "grpc"
        self.method = method
        self.route = route
        #: ``url.scheme`` and ``network.protocol.version`` (HTTP); empty when unknown.
        self.scheme = scheme
        self.protocol_version = protocol_version
        self.status_code: int | str | None = None
        self.request_size = 0
        self.response_size = 0
        self.duration_ns = 0
        self.ttfb_ns: int | None = None


class InferenceRecord:
    """Everything known about one inference call.

    ``id_int`` is a random 128-bit integer when inferwatch generates the id
    (0 until drawn, see ``random_id``); it is only formatted to text when a
    record is actually written, and its low bits drive deterministic sampling.
    ``timestamp_ns`` is wall-clock time of the call's start; the request path
    leaves it 0 and the aggregator derives it from ``start_perf_ns``.
    ``inference_id`` holds an id supplied by the caller (a request header, an
    argument) and wins when set. ``propensity``, ``explored`` and ``target``
    are None unless the call logged them (``inferwatch.feedback.set_propensity``).
    """

    __slots__ = (
        # (propensity, explored, target) once inferwatch.feedback.set_propensity ran;
        # left unset otherwise, so the request path pays nothing for it.
        "_policy",
        "attributes",
        "batch_size",
        "closed",
        "confidence",
        # The drift window a record's rows went into (set by the drift engine as it
        # ingests the record, off the request path), for the label join.
        "drift_window",
        "duration_ns",
        "endpoint",
        "error_message",
        "error_type",
        "features",
        "has_features",
        "http",
        "id_int",
        "inference",
        "inference_id",
        "joinable",
        "outcome",
        "prediction",
        "span_id",
        "stages",
        "start_perf_ns",
        "timestamp_ns",
        "trace_id",
    )

    # Declared, never assigned in __init__ (see the slot's comment).
    _policy: tuple[float | None, bool | None, float | None]
    drift_window: int  # unset until the drift engine ingests the record

    def __init__(
        self,
        endpoint: Endpoint,
        timestamp_ns: int,
        start_perf_ns: int,
        id_int: int,
        inference_id: str | None,
        trace_id: int,
        span_id: int,
    ) -> None:
        self.endpoint = endpoint
        self.timestamp_ns = timestamp_ns
        self.start_perf_ns = start_perf_ns
        self.id_int = id_int
        self.inference_id = inference_id
        self.trace_id = trace_id
        self.span_id = span_id
        self.attributes: dict[str, Any] | None = None
        self.duration_ns = 0
        self.stages: dict[str, int] | None = None
        self.outcome = "ok"
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.prediction: Any = None
        self.confidence: Any = None
        self.batch_size = 1
        self.features: Any = None
        # The call captured features, whether or not they were copied (see
        # Monitor._update_feature_policy): sampling treats such records alike.
        self.has_features = False
        self.http: HttpInfo | None = None
        # True while a transport-level record (ASGI, gRPC) waits for a
        # monitored predict call inside the request to fill in model fields.
        self.joinable = False
        # Set once the transport's response is complete: a predict running
        # later in the same context (a background task) never joins it.
        self.closed = False
        # Whether the record is a model inference. A transport record is one
        # only once a monitored predict joined it or its route was declared a
        # model endpoint; otherwise it counts in the HTTP/RPC metrics alone,
        # never in predictions or drift.
        self.inference = True

    @property
    def propensity(self) -> float | None:
        """The probability the policy gave the action it took, if the call logged one
        (``inferwatch.feedback.set_propensity``)."""
        policy = getattr(self, "_policy", None)
        return None if policy is None else policy[0]

    @property
    def explored(self) -> bool | None:
        """Whether the action was an exploration one, if the call said so."""
        policy = getattr(self, "_policy", None)
        return None if policy is None else policy[1]

    @property
    def target(self) -> float | None:
        """The probability the evaluated policy gives the action taken, if the call
        logged one (``set_propensity(target=...)``)."""
        policy = getattr(self, "_policy", None)
        return None if policy is None else policy[2]

    @property
    def id(self) -> str:
        """The inference id as text: the caller's id, or the generated one in hex."""
        if self.inference_id is not None:
            return self.inference_id
        return self.random_id().to_bytes(16, "big").hex()  # 2x faster than f"{:032x}"

    def random_id(self) -> int:
        """The generated 128-bit id, drawn on first use.

        The request path leaves ``id_int`` at 0 and the id is drawn here, off
        it, for the records that need one (logged, sampled, or asked for).
        """
        if self.id_int == 0:
            self.id_int = _getrandbits(128) or 1
        return self.id_int

    def set_error(self, exc: BaseException, outcome: str = "error") -> None:
        """Record a failure: outcome, the exception's type, and its message as text.

        The message is redacted when logged; an exception whose ``__str__``
        raises is recorded as unprintable rather than breaking anything.
        """
        self.outcome = outcome
        self.error_type = type(exc).__qualname__
        try:
            self.error_message = str(exc)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a hostile __str__ may raise anything: the call still counts
            self.error_message = "<unprintable exception>"

    def add_stage(self, name: str, duration_ns: int) -> None:
        """Add time to a stage; a stage entered twice accumulates."""
        stages = self.stages
        if stages is None:
            self.stages = {name: duration_ns}
        else:
            stages[name] = stages.get(name, 0) + duration_ns

    def __repr__(self) -> str:
        return (
            f"InferenceRecord(id={self.id!r}, model={self.endpoint.model_name!r}, "
            f"outcome={self.outcome!r}, duration_ns={self.duration_ns})"
        )
