"""LabelTracker: predictions stored from a monitor, labels joined, quality reported.

A tracker hooks onto a :class:`inferwatch.Monitor` (or follows the process
default, as ``inferwatch.slo.track`` does) as a record observer that copies
nothing: on the aggregator thread each drained batch's predictions go into
the store (``_extract``), and after each drain the queued labels and
outcomes are joined (``_join``). A collector exports the metrics and a
summary section puts everything in ``Monitor.summary()["labels"]`` (and so
in the status document and page).

The predict call is untouched: nothing here runs on the request path.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _forks
from .._errors import ConfigurationError
from ._extract import Extractor, id_keyer
from ._join import Item, Joiner
from ._points import tracker_points
from ._policy import PolicyValues
from ._quality import window_quality
from ._store import MemoryStore, PredictionStore
from ._task import Task
from ._validate import (
    check_class_label,
    check_id,
    check_model,
    check_number,
    check_outcome_name,
    check_source,
    check_timestamp,
)
from ._windows import parse_windows

if TYPE_CHECKING:
    from .._monitor import Monitor
    from .._record import InferenceRecord
    from ..estimate._tracking import TrackedEstimates

__all__ = ["LabelTracker", "live_trackers", "track", "trackers_for"]

_live: weakref.WeakSet[LabelTracker] = weakref.WeakSet()
# The trackers reporting on each monitor (one summary section lists them all).
_on_monitor: weakref.WeakKeyDictionary[Any, list[LabelTracker]] = weakref.WeakKeyDictionary()


def trackers_for(monitor: Monitor) -> list[LabelTracker]:
    """The trackers storing ``monitor``'s predictions now."""
    return [t for t in list(_on_monitor.get(monitor, ())) if t._monitor is monitor]


def live_trackers() -> list[LabelTracker]:
    """Every tracker attached to a monitor that is not shut down."""
    return [t for t in list(_live)
            if t.monitor is not None and not getattr(t.monitor, "_closed", False)]


class LabelTracker:
    """Delayed labels joined to the predictions they belong to, and the quality they show.

    ::

        tracker = inferwatch.labels.track(task="classification", positive=1,
                                          window=["count:1000", "1h"])
        inferwatch.record_label(inference_id, 1)          # later, from anywhere
        tracker.quality()[0]["windows"][0]["measures"]["accuracy"]

    Args:
        task: "classification" or "regression".
        positive: the positive class of a binary classifier (precision, recall,
            F1, ROC AUC, log loss, Brier score); without it, multiclass
            accuracy, macro F1 and top-label calibration.
        threshold: a probability prediction at or above it predicts ``positive``.
        classes: the class of each column of per-class score predictions.
        model, version: only predictions of this model / version are stored.
        window: one or several of ``"count:N"`` (the last N joined pairs) and
            durations (``"1h"``: pairs whose label arrived in the last hour).
        store: a :class:`PredictionStore` (default: a :class:`MemoryStore`,
            100,000 predictions, 7 days).
        max_pairs: joined pairs kept per series and source for time windows.
        grace: seconds a label whose prediction is not stored yet waits for it.
        max_pending: labels queued at most between two drains (more are
            dropped, counted as ``labels_queue_full``).
        variant_key, segment_key: the record attributes naming the A/B variant
            and a segment.
        clock: seconds since the epoch (label times, time windows, ages).
        estimator: an :class:`inferwatch.estimate.CBPE` (classifiers) or
            :class:`inferwatch.estimate.DLE` (regressors): each window is also
            estimated without labels, over the latest predictions and beside
            the realised measure (see :mod:`inferwatch.estimate`).
        policy_reward: an outcome name (``"click"``): the value of the policy
            ``inferwatch.feedback.set_propensity(target=...)`` describes is
            estimated by IPW and SNIPS from the calls that logged a propensity,
            each one's reward its first outcome of this name (0 if none).
        policy_horizon: how long a decision's reward may take (seconds or a
            duration, ``"1h"``): a decision counts once it has passed, and a
            reward arriving later is left out (counted as ``late``).
        policy_clip: cap on the weights ``target / propensity`` (biased, less
            variance; capped weights are counted and the estimates flagged).
    """

    def __init__(
        self,
        task: str = "classification",
        *,
        positive: str | int | bool | None = None,
        threshold: float = 0.5,
        classes: Sequence[str | int | bool] | None = None,
        model: str | None = None,
        version: str | None = None,
        window: str | Sequence[str] = "count:1000",
        store: PredictionStore | None = None,
        max_pairs: int = 10_000,
        grace: float = 5.0,
        max_pending: int = 100_000,
        max_waiting: int = 10_000,
        variant_key: str = "variant",
        segment_key: str = "segment",
        reliability_bins: int = 10,
        clock: Callable[[], float] | None = None,
        estimator: Any = None,
        policy_reward: str | None = None,
        policy_horizon: float | str = "1h",
        policy_clip: float | None = None,
    ) -> None:
        self.task = Task(task, positive, threshold,
                         None if classes is None else tuple(classes))
        self.windows = parse_windows(window)
        for name, value, low in (("max_pairs", max_pairs, 1), ("max_pending", max_pending, 1),
                                 ("max_waiting", max_waiting, 0),
                                 ("reliability_bins", reliability_bins, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigurationError(f"{name} must be an int >= {low}, got {value!r}")
        if not (isinstance(grace, (int, float)) and math.isfinite(grace) and grace >= 0):
            raise ConfigurationError(f"grace must be seconds >= 0, got {grace!r}")
        if store is None:
            store = MemoryStore()
        elif not isinstance(store, PredictionStore):
            raise ConfigurationError("store must implement inferwatch.labels.PredictionStore "
                                     "(put, claim, expire, evictions, __len__)")
        self.model = check_model(model)
        self.version = check_model(version)
        self.variant_key = variant_key
        self.segment_key = segment_key
        self.reliability_bins = reliability_bins
        self.store = store
        self._clock = clock if clock is not None else time.time
        counts = [int(w.size) for w in self.windows if w.kind == "count"]
        timed = any(w.kind == "time" for w in self.windows)
        capacity = max([*counts, max_pairs if timed else 0])
        self._join = Joiner(self.task, store, capacity=capacity, grace=float(grace),
                            max_pending=max_pending, max_waiting=max_waiting,
                            clock=self._clock)
        self.estimates: TrackedEstimates | None = None
        if estimator is not None:
            from ..estimate._tracking import TrackedEstimates

            self.estimates = TrackedEstimates(estimator, self.task, self.windows, capacity)
        if policy_reward is not None:
            self._join.policy = _policy_values(self._join, policy_reward, policy_horizon,
                                               policy_clip)
        self._extractor: Extractor | None = None
        self._monitor: Monitor | None = None
        self._following = False
        self._listening = False
        self._hooked: weakref.WeakSet[Monitor] = weakref.WeakSet()
        self._cache: dict[tuple[Any, ...], tuple[tuple[int, int], dict[str, Any]]] = {}
        _live.add(self)
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        self._join.lock = threading.Lock()
        self._join.pending.clear()
        self._cache = {}
        if self._join.policy is not None:  # the parent's decisions are the parent's to count
            self._join.policy = self._join.policy.fresh()

    # -- wiring ---------------------------------------------------------------------

    @property
    def monitor(self) -> Monitor | None:
        """The monitor whose predictions are stored now (None once closed)."""
        return self._monitor

    def attach(self, monitor: Monitor | None = None) -> LabelTracker:
        """Store ``monitor``'s predictions; without one, follow the process default
        (the current one, and whichever ``inferwatch.configure`` makes later)."""
        if monitor is not None:
            self._following = False
            self._use(monitor)
            return self
        from .. import _process

        self._following = True
        _process.follow_default(self, _switch)
        self._use(_process.get_monitor())
        return self

    def close(self) -> None:
        """Stop: no predictions are stored and ``record_label`` no longer reaches it."""
        self._following = False
        self._use(None)

    def _use(self, monitor: Monitor | None) -> None:
        # The store is the tracker's: predictions made before a reconfiguration
        # still join the labels that arrive after it.
        self._monitor = monitor
        if monitor is None:
            return
        config = monitor.config
        excluded = frozenset(n.lower() for n in (*config.pii_fields, *config.drop_fields))
        with self._join.lock:
            previous = self._extractor
            self._extractor = Extractor(self.task, model=self.model, version=self.version,
                                        variant_key=self.variant_key,
                                        segment_key=self.segment_key, excluded=excluded)
            if previous is not None:
                self._extractor.stored = previous.stored
                self._extractor.skipped = previous.skipped
            self._join.keyer = id_keyer(monitor)
        self._hook(monitor)

    def _hook(self, monitor: Monitor) -> None:
        # The monitor keeps the tracker alive; it has no remove_ticker, so the
        # hooks check that it is still the source.
        if monitor in self._hooked:
            return
        self._hooked.add(monitor)

        def consume(records: list[InferenceRecord]) -> None:
            if self._monitor is monitor:
                self._store(monitor, records)

        def tick(_now: float) -> None:
            if self._monitor is monitor:
                self.process()

        def collect() -> list[Any]:
            if self._monitor is not monitor:
                return []
            self.process()
            return tracker_points(self)

        def close(seconds: float) -> None:
            # A store with a writer of its own (Redis) writes what the last drain stored.
            closer = getattr(self.store, "close", None)
            if self._monitor is monitor and closer is not None:
                try:
                    closer(seconds)
                except TypeError:  # a store whose close() takes no timeout
                    closer()

        # An observer: it reads predictions, never features, so nothing is copied for it.
        monitor.add_feature_consumer(consume, copies_features=False)
        monitor.add_ticker(tick)
        monitor.add_collector(collect)
        monitor.add_closer(close)
        trackers = _on_monitor.get(monitor)
        if trackers is None:
            trackers = _on_monitor[monitor] = []
            monitor.add_summary("labels", lambda: _summary(monitor))
        trackers.append(self)

    def _store(self, monitor: Monitor, records: list[InferenceRecord]) -> None:
        extractor = self._extractor
        if extractor is None:
            return
        from ._windowid import open_windows

        windows = open_windows(monitor)
        now = self._clock()
        with self._join.lock:
            entries = extractor.entries(records, self._join.keyer, windows)
            if entries:
                self.store.put(entries, now)
                if self._join.policy is not None:
                    self._join.policy.add_decisions(entries, now)
                self._join.stored(entries)
                if self.estimates is not None:
                    self.estimates.add(entries)
            else:
                self.store.expire(now)

    # -- recording (any thread) ----------------------------------------------------------

    def _label_value(self, label: Any) -> Any:
        if self.task.kind == "regression":
            return check_number(label, "a regression label")
        return check_class_label(label)

    def _label_item(self, inference_id: Any, label: Any, model: Any, timestamp: Any,
                    source: Any, now: float) -> Item:
        key = check_id(inference_id)
        value = self._label_value(label)
        model = check_model(model)
        return ("label", key, model, value, check_source(source), check_timestamp(timestamp),
                now)

    def record_label(self, inference_id: str, label: Any, *, model: str | None = None,
                     timestamp: Any = None, source: str = "organic") -> None:
        """Queue one label (see :func:`inferwatch.record_label`)."""
        item = self._label_item(inference_id, label, model, timestamp, source, self._clock())
        if not self._takes(item):
            raise ValueError(f"this tracker stores model {self.model!r} only, not {model!r}")
        self._join.enqueue([item])

    def record_labels(self, pairs: Iterable[Any]) -> int:
        """Queue many labels at once (see :func:`inferwatch.record_labels`); all are
        checked before any is queued. Labels naming another model than this
        tracker's are left to that model's tracker. Returns how many of the
        pairs were not dropped for a full queue."""
        items = self.label_items(pairs)
        mine = [item for item in items if self._takes(item)]
        return len(items) - (len(mine) - self._join.enqueue(mine))

    def _takes(self, item: Item) -> bool:
        return item[2] is None or self.model is None or item[2] == self.model

    def label_items(self, pairs: Iterable[Any]) -> list[Item]:
        """Check every pair, raising for the first bad one (``pairs[i]: ...``)."""
        now = self._clock()
        items: list[Item] = []
        if isinstance(pairs, (str, bytes, Mapping)):
            raise TypeError("pairs must be an iterable of (inference_id, label) tuples or "
                            "of mappings with 'inference_id' and 'label'")
        for i, pair in enumerate(pairs):
            try:
                if isinstance(pair, Mapping):
                    unknown = set(pair) - {"inference_id", "label", "model", "timestamp",
                                           "source"}
                    if unknown:
                        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}"
                                         "; a label has inference_id, label and optionally "
                                         "model, timestamp, source")
                    if "inference_id" not in pair or "label" not in pair:
                        raise ValueError("a label needs 'inference_id' and 'label'")
                    item = self._label_item(pair["inference_id"], pair["label"],
                                            pair.get("model"), pair.get("timestamp"),
                                            pair.get("source", "organic"), now)
                elif isinstance(pair, tuple) and len(pair) == 2:
                    item = self._label_item(pair[0], pair[1], None, None, "organic", now)
                else:
                    raise TypeError("each pair is an (inference_id, label) tuple or a mapping")
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"pairs[{i}]: {exc}") from None
            items.append(item)
        return items

    def record_outcome(self, inference_id: str, name: str, value: float = 1.0, *,
                       model: str | None = None) -> None:
        """Queue one business outcome (see :func:`inferwatch.record_outcome`)."""
        key, outcome, number, model = self.check_outcome(inference_id, name, value, model)
        item: Item = ("outcome", key, model, number, self._join.outcomes.name(outcome), None,
                      self._clock())
        self._join.enqueue([item])

    def check_outcome(self, inference_id: Any, name: Any, value: Any,
                      model: Any) -> tuple[str, str, float, str | None]:
        """The outcome's arguments checked (raises as ``record_outcome`` does)."""
        return (check_id(inference_id), check_outcome_name(name),
                check_number(value, "an outcome value"), check_model(model))

    # -- reading ----------------------------------------------------------------------------

    def process(self) -> None:
        """Join what was queued (the ticker calls this after every drain)."""
        with self._join.lock:
            prefetch = getattr(self.store, "prefetch", None)
            if prefetch is not None and self._join.pending:
                # A shared store claims the whole queue in one round trip (RedisStore);
                # the claim keys are the ones Joiner._one forms.
                keyer = self._join.keyer
                prefetch([(keyer(item[1]), item[2], f"{item[0]}:{item[4]}")
                          for item in list(self._join.pending)])
            self._join.process()
            if self._join.policy is not None:
                self._join.policy.mature(self._clock())

    def flush(self) -> None:
        """Store every finished call's prediction and join every queued label now."""
        monitor = self._monitor
        if monitor is not None:
            monitor.drain()
        self.process()

    def quality(self) -> list[dict[str, Any]]:
        """Quality per series and source, each configured window apart (see the README's
        labels section for the fields); current as of this call."""
        self.flush()
        return self._quality()

    def _quality(self) -> list[dict[str, Any]]:
        now = self._clock()
        join = self._join
        out = []
        with join.lock:
            stored = dict(self._extractor.stored) if self._extractor else {}
            for (series, source), ring in sorted(join.rings.items()):
                n_stored = stored.get(series, 0)
                joined = join.joined.get((series, source), 0)
                windows = [self._window(series, source, ring, spec, now)
                           for spec in self.windows]
                out.append({"model": series[0], "version": series[1],
                            "variant": series[2] or None, "source": source,
                            "stored": n_stored, "joined": joined,
                            "join_rate": min(joined / n_stored, 1.0) if n_stored else None,
                            "windows": windows})
        return out

    def _window(self, series: Any, source: str, ring: Any, spec: Any,
                now: float) -> dict[str, Any]:
        stamp = (ring.added, int(now) if spec.kind == "time" else 0)
        key = (series, source, spec.name)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        result = window_quality(self.task, ring, spec, now, self.reliability_bins)
        if self.estimates is not None and result["pairs"]:
            result["estimated"] = self.estimates.for_pairs(ring, ring.select(spec, now))
        self._cache[key] = (stamp, result)
        return result

    def estimated(self) -> list[dict[str, Any]]:
        """Label-free estimates per series over each window's latest predictions (empty
        without an ``estimator``)."""
        if self.estimates is None:
            return []
        now = self._clock()
        with self._join.lock:
            return self.estimates.live(now)

    def outcomes(self) -> list[dict[str, Any]]:
        """Outcome count, sum and rate per series and outcome name."""
        self.flush()
        return self._outcomes()

    def _outcomes(self) -> list[dict[str, Any]]:
        with self._join.lock:
            stored = dict(self._extractor.stored) if self._extractor else {}
            return self._join.outcomes.rows(stored)

    def policy_value(self, confidence: float = 0.95) -> list[dict[str, Any]]:
        """The evaluated policy's value per series (model, version, variant): matured
        decisions, ``ipw`` and ``snips`` (value, stderr, interval at ``confidence``,
        effective sample size, warnings); empty without ``policy_reward``."""
        self.flush()
        return self._policy_rows(confidence)

    def _policy_rows(self, confidence: float = 0.95) -> list[dict[str, Any]]:
        with self._join.lock:
            policy = self._join.policy
            return [] if policy is None else policy.rows(confidence)

    def stored(self) -> dict[tuple[str, str, str | None], int]:
        """Predictions stored so far per (model, version, variant): what an outcome rate
        is over."""
        with self._join.lock:
            stored = dict(self._extractor.stored) if self._extractor else {}
        return {(m, v, variant or None): n for (m, v, variant), n in stored.items()}

    def counts(self) -> dict[str, dict[str, int]]:
        """Labels and outcomes processed so far: ``{source or outcome name: {result: n}}``,
        current as of this call."""
        self.flush()
        return self._counts()

    def _counts(self) -> dict[str, dict[str, int]]:
        with self._join.lock:
            out: dict[str, dict[str, int]] = {}
            for (tag, _kind, result), n in sorted(self._join.received.items()):
                out.setdefault(tag, {})[result] = n
            return out

    def drops(self) -> dict[str, int]:
        """What was lost or left out, by ``inferwatch.self.dropped`` reason."""
        evicted = dict(self.store.evictions())
        with self._join.lock:
            skipped = dict(self._extractor.skipped) if self._extractor else {}
            out = {
                "label_store_evicted_entries": int(evicted.get("entries", 0)),
                "label_store_evicted_age": int(evicted.get("age", 0)),
                "labels_queue_full": self._join.dropped,
                "quality_series_full": self._join.series_full,
            }
            if self._join.policy is not None:
                out.update(self._join.policy.dropped)
        for reason, n in evicted.items():  # a shared store's own (label_store_unavailable)
            if reason not in ("entries", "age"):
                out[f"label_store_{reason}"] = int(n)
        out.update(skipped)
        return out

    def summary(self) -> dict[str, Any]:
        """This tracker's part of ``Monitor.summary()["labels"]["trackers"]``."""
        store = self.store
        section = {
            "task": self.task.kind,
            "positive": self.task.positive,
            "model": self.model,
            "windows": [w.name for w in self.windows],
            "store": {"entries": len(store), "evicted": dict(store.evictions()),
                      "max_entries": getattr(store, "max_entries", None),
                      "max_age_s": getattr(store, "max_age", None),
                      "nbytes": getattr(store, "nbytes", None)},
            "received": {k: v for k, v in self._counts().items()
                         if k in ("organic", "review")},
            "waiting": self._join.waiting,
            "dropped": {k: v for k, v in self.drops().items() if v},
            "quality": self._quality(),
            "outcomes": self._outcomes(),
        }
        if self.estimates is not None:
            section["estimated"] = self.estimated()
        policy = self._join.policy
        if policy is not None:
            with self._join.lock:
                section["policy"] = {"reward": policy.reward, "horizon_s": policy.horizon,
                                     "waiting": policy.waiting,
                                     "rewards": dict(policy.rewards),
                                     "series": policy.rows()}
        return section

    @property
    def nbytes(self) -> int:
        """Memory held by the pair rings and the store (estimated)."""
        store_bytes = getattr(self.store, "nbytes", 0)
        policy = self._join.policy
        return (self._join.nbytes + (0 if policy is None else policy.nbytes)
                + (store_bytes if isinstance(store_bytes, int) else 0))


def _policy_values(join: Joiner, reward: Any, horizon: Any, clip: Any) -> PolicyValues:
    """The policy-value estimates a tracker's options ask for (raises ConfigurationError)."""
    from ..slo._spec import parse_duration

    try:
        name = check_outcome_name(reward)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"policy_reward: {exc}") from None
    if isinstance(horizon, str):
        try:
            seconds = parse_duration(horizon)
        except ValueError as exc:
            raise ConfigurationError(f"policy_horizon: {exc}") from None
    elif (isinstance(horizon, (int, float)) and not isinstance(horizon, bool)
          and math.isfinite(horizon) and horizon > 0):
        seconds = float(horizon)
    else:
        raise ConfigurationError(f"policy_horizon must be seconds > 0 or a duration such as "
                                 f"'1h', got {horizon!r}")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float))
                             or not math.isfinite(clip) or clip <= 0):
        raise ConfigurationError(f"policy_clip must be a positive weight (e.g. 50), "
                                 f"got {clip!r}")
    # The reward's name is admitted first, so the outcome-name cap never makes it _other.
    return PolicyValues(join.outcomes.name(name), seconds,
                        clip=None if clip is None else float(clip))


def _summary(monitor: Monitor) -> dict[str, Any]:
    trackers = trackers_for(monitor)
    for tracker in trackers:
        tracker.process()
    return {"trackers": [t.summary() for t in trackers]}


def track(
    monitor: Monitor | None = None,
    *,
    task: str = "classification",
    **options: Any,
) -> LabelTracker:
    """Join delayed labels to predictions in one line; quality in the metrics and status.

    ::

        import inferwatch.labels
        inferwatch.labels.track(task="classification", positive=1, window="count:1000")
        ...
        inferwatch.record_label(inference_id, 1)

    Without ``monitor`` it follows the process default, including one made by
    a later ``inferwatch.configure(...)``. ``options`` are
    :class:`LabelTracker`'s.
    """
    return LabelTracker(task, **options).attach(monitor)


def _switch(tracker: Any, new: Monitor | None) -> None:
    """A new process default: a tracker that follows it moves there."""
    if tracker._following:
        tracker._use(new)
