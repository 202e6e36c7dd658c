"""``set_propensity``: the propensity, exploration flag and target on the current record.

Runs inside the caller's predict, so it does a few type checks and one
attribute store; a bad value is dropped and counted (``inferwatch.self.dropped``
with reason ``invalid_propensity``, ``invalid_explored`` or ``invalid_target``),
never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._context import _count_internal_error, _current, _reraise_fatal

if TYPE_CHECKING:
    from .._monitor import Monitor
    from .._record import InferenceRecord

__all__ = ["check_explored", "check_propensity", "check_target", "set_propensity"]

_BOOL_TYPE_NAMES = frozenset({"bool_", "bool"})


def check_propensity(value: Any) -> float | None:
    """``value`` as a float in (0, 1], or None when it is not one."""
    number = _probability(value)
    return None if number is None or number == 0.0 else number


def check_target(value: Any) -> float | None:
    """``value`` as a float in [0, 1] (a bool as 1 or 0), or None when it is not one."""
    explored = check_explored(value)
    if explored is not None:
        return 1.0 if explored else 0.0
    return _probability(value)


def _probability(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        number: float = value
    elif kind is bool or not _is_real(value):
        return None
    else:
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    if not 0.0 <= number <= 1.0:  # NaN fails this too
        return None
    return number


def check_explored(value: Any) -> bool | None:
    """``value`` as a bool (Python's or numpy's), or None when it is not one."""
    if value is True or value is False:
        return bool(value)
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in _BOOL_TYPE_NAMES:
        return bool(value)
    return None


def _is_real(value: Any) -> bool:
    # numbers.Real without the ABC machinery: ints and numpy floating/integer scalars.
    if isinstance(value, int):
        return True
    kind = type(value)
    if kind.__module__ != "numpy" or getattr(value, "ndim", None) != 0:
        return False
    return getattr(getattr(value, "dtype", None), "kind", None) in ("f", "i", "u")


def set_propensity(propensity: Any = None, *, explored: Any = None,
                   target: Any = None) -> bool:
    """Log, on the inference running in this context, the probability that the
    policy chose the action it took, whether that action was exploration, and the
    probability that the policy being evaluated would have chosen it.

    ::

        @inferwatch.monitor(model="ranker", version="4", features="x")
        def recommend(x):
            scores = model(x)
            greedy = int(scores.argmax())
            explored = rng.random() < epsilon               # epsilon-greedy
            action = int(rng.integers(len(scores))) if explored else greedy
            p = epsilon / len(scores) + (1 - epsilon) * (action == greedy)
            inferwatch.feedback.set_propensity(p, explored=explored,
                                               target=action == greedy)
            return action

    ``propensity`` is a number in (0, 1]; ``explored`` a bool; ``target`` a
    number in [0, 1] or a bool (1 or 0 for a deterministic policy: above, the greedy
    policy without exploration). Any may be left out. They go on the record's
    log line as ``inferwatch.propensity``, ``inferwatch.explored`` and
    ``inferwatch.target_probability`` (and on ``InferenceRecord.propensity`` /
    ``.explored`` / ``.target``), into the label store of a tracker that
    estimates the policy's value from joined outcomes
    (``inferwatch.labels.track(policy_reward=...)``), and serve the
    off-policy estimates of :func:`inferwatch.feedback.ipw` and
    :func:`~inferwatch.feedback.snips`.

    Returns True when everything given was recorded. Outside a monitored call
    (or after its record closed) it does nothing and returns False. A value
    of the wrong type or out of range is dropped (the others are still
    recorded), counted in ``inferwatch.self.dropped`` (``invalid_propensity``,
    ``invalid_explored``, ``invalid_target``) and answered with False: it
    never raises into the predict call.
    """
    try:
        record = _current.get()
        if record is None or record.closed:
            return False
        # Straight-line, no tuples or loops: this runs inside the caller's predict.
        p = None if propensity is None else _check(record, propensity, check_propensity,
                                                   "invalid_propensity")
        e = None if explored is None else _check(record, explored, check_explored,
                                                 "invalid_explored")
        q = None if target is None else _check(record, target, check_target,
                                               "invalid_target")
        ok = ((p is not None or propensity is None) and (e is not None or explored is None)
              and (q is not None or target is None))
        if p is None and e is None and q is None:
            return ok and (propensity is not None or explored is not None or target is not None)
        previous = getattr(record, "_policy", None)
        if previous is not None:  # a second call fills in what the first left out
            p = previous[0] if p is None else p
            e = previous[1] if e is None else e
            q = previous[2] if q is None else q
        record._policy = (p, e, q)
        return ok
    except BaseException as error:  # a hostile value's __float__: counted, never raised
        _reraise_fatal(error)
        _count_internal_error()
        return False


def _check(record: InferenceRecord, value: Any, check: Callable[[Any], Any],
           reason: str) -> Any:
    """``check(value)``; a value it refuses is counted as dropped for ``reason`` (None)."""
    checked = check(value)
    if checked is None:
        _count(record, reason)
    return checked


def _count(record: InferenceRecord, reason: str) -> None:
    """Count a dropped value on the monitor the record belongs to (a rare path)."""
    monitor = owner(record)
    if monitor is None:
        _count_internal_error()
    else:
        monitor.count_dropped(reason)


def owner(record: InferenceRecord) -> Monitor | None:
    """The live monitor whose endpoint the record reports to, else the process default."""
    from .. import _process
    from .._monitor import _live_monitors

    endpoint = record.endpoint
    for monitor in list(_live_monitors):
        for known in (*monitor._endpoints.values(), *monitor._series.values()):
            if known is endpoint or known is endpoint.series:
                return monitor
    return _process._default
