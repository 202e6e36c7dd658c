"""DriftMonitor: live windows per model version and variant, fed by a Monitor's aggregator."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from .. import _forks, _process
from .._catalogue import MetricPoint
from .._monitor import Monitor
from .._record import InferenceRecord
from .._variants import MAX_VARIANTS, NO_VARIANT, VariantReader, readable_key
from ..sketches import DEFAULT_K
from ._assess import Options
from ._compare import ALL_TESTS
from ._contrast import variant_entries
from ._decide import CORRECTIONS, DECISIONS, Thresholds
from ._metrics import stream_points
from ._profile import ReferenceProfile
from ._report import DriftReport
from ._stream import Settings, Stream, warmup_for
from ._warmup import Warmup
from ._window import EXACT_ROWS
from ._windows import parse_window

#: A stream's key: ``(model, version)`` for rows of no variant (the key before variants
#: existed), ``(model, version, variant)`` for a variant's.
Key = tuple[str, ...]


def stream_key(model: str, version: str, variant: str = NO_VARIANT) -> Key:
    """The key ``reports()`` and ``open_windows()`` use for one stream."""
    return (model, version, variant) if variant else (model, version)

_live: weakref.WeakSet[DriftMonitor] = weakref.WeakSet()




def attached_to(monitor: Monitor) -> list[DriftMonitor]:
    """The drift monitors fed by ``monitor`` (see ``Monitor``'s ``attached_drift_monitors``)."""
    return [dm for dm in list(_live) if any(source is monitor for source in dm._sources)]


class DriftMonitor:
    """Data and prediction drift of live traffic against a reference, per model version.

    ::

        drift = DriftMonitor("churn.iwprofile", window="count:10000").attach(monitor)
        report = drift.report()
        print(report.drifted_features)

    Records are kept apart by (model name, model version): a canary v4 and
    the v3 it replaces each get their own windows and reports, labelled
    ``model.version`` in the metrics. Within a version, records are kept
    apart by variant too (the record's ``variant_key`` attribute, per call
    or static on the endpoint): the treatment and control of an A/B test of
    one model version each get their own windows and reports, labelled
    ``inferwatch.variant`` in the metrics (``""`` for rows of no variant,
    which are exactly the stream a version had before variants). Every
    variant of a version is compared with the same reference: the profile
    given, or the one frozen once from that version's first
    ``warmup_rows`` rows (of every variant, or of ``reference_variant``
    alone), never one a variant freezes from its own traffic; ``by_variant``
    sets the variants side by side. Ingestion runs on the monitor's
    aggregator thread, once per drained batch (columns are built with numpy
    and folded into sketches every ``fold_rows`` rows); a window's report is
    computed once, when it closes, and kept in a bounded history. Memory is
    bounded by the number of features, never by traffic: two windows of
    sketches and ``history`` reports per model version and variant, at most
    ``max_models`` versions and ``max_variants`` variants per model (plus
    ``_other`` and rows of no variant).

    Args:
        profile: a :class:`ReferenceProfile`, a path to a profile file, or
            None to freeze each version's reference from its first ``warmup_rows``
            live rows.
        window: ``"count:N"`` rows, or ``"time:S"`` seconds (also ``"300s"``,
            ``"5m"``, ``"1h"``); a bare number is refused.
        compare_previous: also compare each window with the one before it
            (``FeatureDrift.previous``), by the same rule.
        tests: statistics to compute, from psi, js, ks, wasserstein,
            chi_square, mmd (PSI is always computed).
        thresholds: a :class:`Thresholds`, a mapping of its fields, or
            ``"calibrated"`` for per-feature effect thresholds from the profile.
        correction: "bh" (Benjamini-Hochberg), "bonferroni" or "none".
        decision: "both" (significance and effect size, at every sample size:
            see :mod:`inferwatch.drift._decide`), "pvalue" or "distance" alone.
        importances: feature importances (default: the profile's; without any,
            every feature weighs the same in ``weighted_score``).
        history: closed-window reports kept per model version (``history()``).
        warmup_rows: live rows frozen into the reference when there is no profile.
        model, version: only records of this model name / version (default: all,
            each version apart).
        max_models: model versions tracked at most; rows of further ones are
            dropped and counted (``inferwatch.self.dropped``, reason
            ``drift_models_full``).
        variant_key: the record attribute naming its A/B variant (None: no
            variants, every version one stream). Read as the label join reads
            it; never read when the key is one of the feeding monitor's
            ``pii_fields`` or ``drop_fields``.
        max_variants: distinct variants kept apart per model name; rows of
            later ones go to variant ``_other``.
        reference_variant: without a profile, freeze each version's reference
            from this variant's rows only (the control), not from every
            variant's; the other variants wait for it.
        categorical, feature_names: how to read warm-up rows (as build_profile).
        fleet_bins: numeric features (the outputs first, then the features in
            the profile's order) whose live rows per reference bin are exported
            (``inferwatch.drift.bin.rows``, with the reference's share of each bin),
            so that Prometheus computes the fleet's PSI over all replicas
            (``inferwatch rules prometheus``); about 12 series each; 0 exports none.
        kll_k: accuracy of the live KLL sketches (rank error about 1/k).
        exact_rows: finite values per numeric feature a window keeps exactly
            (8 bytes each) before it switches to its KLL sketch, so that small
            windows get exact KS statistics.
        clock: seconds, for time windows (tests inject one).
    """

    def __init__(
        self,
        profile: ReferenceProfile | str | os.PathLike[str] | None = None,
        *,
        window: str = "count:10000",
        compare_previous: bool = False,
        tests: Collection[str] | None = None,
        thresholds: Thresholds | Mapping[str, float] | str | None = None,
        correction: str = "bh",
        decision: str = "both",
        importances: Mapping[str, float] | None = None,
        history: int = 8,
        warmup_rows: int = 10_000,
        model: str | None = None,
        version: str | None = None,
        max_models: int = 8,
        categorical: Sequence[str] | None = None,
        feature_names: Sequence[str] | None = None,
        dataset_drift_share: float = 0.5,
        mmd_permutations: int = 100,
        sample_rows: int = 256,
        kll_k: int = DEFAULT_K,
        exact_rows: int = EXACT_ROWS,
        fold_rows: int = 2048,
        max_unknown_features: int = 32,
        fleet_bins: int = 32,
        variant_key: str | None = "variant",
        max_variants: int = MAX_VARIANTS,
        reference_variant: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if correction not in CORRECTIONS:
            raise ValueError(
                f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}"
            )
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if isinstance(fleet_bins, bool) or not isinstance(fleet_bins, int) or fleet_bins < 0:
            raise ValueError(f"fleet_bins must be a whole number >= 0 (0 exports no bins), "
                             f"got {fleet_bins!r}")
        chosen = set(ALL_TESTS if tests is None else tests)
        bad = chosen - ALL_TESTS
        if bad:
            raise ValueError(
                f"unknown test(s) {', '.join(sorted(bad))}; "
                f"choose from {', '.join(sorted(ALL_TESTS))}"
            )
        calibrated = thresholds == "calibrated"
        if isinstance(thresholds, str) and not calibrated:
            raise ValueError(f"thresholds must be a Thresholds, a mapping or 'calibrated', "
                             f"got {thresholds!r}")
        if isinstance(thresholds, Thresholds):
            base = thresholds
        elif isinstance(thresholds, Mapping):
            known = set(Thresholds.__dataclass_fields__)
            unknown = sorted(set(thresholds) - known)
            if unknown:
                raise ValueError(f"unknown threshold(s) {', '.join(unknown)}; "
                                 f"choose from {', '.join(sorted(known))}")
            base = Thresholds(**thresholds)
        else:
            base = Thresholds()
        if warmup_rows < 2:
            raise ValueError(f"warmup_rows must be >= 2, got {warmup_rows}")
        if exact_rows < 0:
            raise ValueError(f"exact_rows must be >= 0, got {exact_rows}")
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        if max_models < 1:
            raise ValueError(f"max_models must be >= 1, got {max_models}")
        if variant_key is not None and (not isinstance(variant_key, str) or not variant_key):
            raise ValueError(f"variant_key must be an attribute name, or None for no "
                             f"variants, got {variant_key!r}")
        if isinstance(max_variants, bool) or not isinstance(max_variants, int) or (
                max_variants < 1):
            raise ValueError(f"max_variants must be a whole number >= 1, got {max_variants!r}")
        if reference_variant is not None and (not isinstance(reference_variant, str)
                                              or not reference_variant):
            raise ValueError(f"reference_variant must name a variant (the control), or be "
                             f"None, got {reference_variant!r}")
        opts = Options(
            tests=chosen | {"psi"}, thresholds=base, calibrated=calibrated,
            correction=correction, decision=decision, importances=importances,
            permutations=mmd_permutations, dataset_drift_share=dataset_drift_share,
        )
        self._settings = Settings(
            opts=opts, spec=parse_window(window), compare_previous=compare_previous,
            history=history, warmup_rows=warmup_rows, categorical=tuple(categorical or ()),
            feature_names=tuple(feature_names or ()), kll_k=kll_k, exact_rows=exact_rows,
            sample_rows=sample_rows, fold_rows=fold_rows, max_unknown=max_unknown_features,
            fleet_bins=fleet_bins, clock=clock, reference_variant=reference_variant,
        )
        self.compare_previous = compare_previous
        self.model = model
        self.version = version
        self.warmup_rows = warmup_rows
        self.max_models = max_models
        self.variant_key = variant_key
        self.max_variants = max_variants
        self.reference_variant = reference_variant
        self._variants = VariantReader(max_variants)
        self._lock = threading.Lock()
        self._profile: ReferenceProfile | None = None
        if profile is not None:
            self._profile = (profile if isinstance(profile, ReferenceProfile)
                             else ReferenceProfile.load(os.fspath(profile)))
        self._streams: dict[Key, Stream] = {}
        #: Per (model, version) without a given profile: the reference its variants share.
        self._warmups: dict[tuple[str, str], Warmup] = {}
        self._dropped_rows = 0
        # The monitors feeding this one: fixed ones (attach(monitor)) and, when
        # following the process default, the current default.
        self._fixed: list[Monitor] = []
        self._followed: Monitor | None = None
        self._following = False
        self._listening = False
        self._collecting: weakref.WeakSet[Monitor] = weakref.WeakSet()
        self._consumers: weakref.WeakKeyDictionary[
            Monitor, Callable[[list[InferenceRecord]], None]] = weakref.WeakKeyDictionary()
        _live.add(self)
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        # A fork while the parent's aggregator was inside ingest() leaves the lock
        # held for ever in the child: a fresh one.
        self._lock = threading.Lock()

    # -- setup --------------------------------------------------------------------

    @property
    def profile(self) -> ReferenceProfile | None:
        """The reference given, or the only version's frozen one (None while warming up)."""
        if self._profile is not None:
            return self._profile
        with self._lock:  # a version's variants share one frozen reference
            frozen = {id(s.profile): s.profile for s in self._streams.values()
                      if s.profile is not None}
        return next(iter(frozen.values())) if len(frozen) == 1 else None

    @property
    def warming_up(self) -> bool:
        return self.profile is None

    @property
    def sources(self) -> list[Monitor]:
        """The monitors this drift monitor is fed by (attached, or followed)."""
        return self._sources

    @property
    def _sources(self) -> list[Monitor]:
        followed = self._followed
        return [*self._fixed, followed] if followed is not None else list(self._fixed)

    def attach(self, monitor: Monitor | None = None) -> DriftMonitor:
        """Feed from ``monitor`` and export at its collection.

        Without a monitor, follow the process default: the current one, and
        whichever replaces it later (``inferwatch.configure`` after
        ``inferwatch.drift.watch`` is fine).
        """
        if monitor is not None:
            if monitor not in self._fixed:
                self._fixed.append(monitor)
                self._hook(monitor)
            return self
        self._following = True
        _process.follow_default(self, lambda dm, new: dm._follow(new))
        self._follow(_process.get_monitor())
        return self

    def close(self) -> None:
        """Stop: no monitor feeds this one or exports its metrics any more (and
        none of them copies features for it)."""
        sources = self._sources
        self._following = False
        self._followed = None
        self._fixed = []
        for monitor in sources:
            self._unhook(monitor)

    def _follow(self, monitor: Monitor | None) -> None:
        if not self._following or monitor is self._followed:
            return
        previous, self._followed = self._followed, monitor
        if monitor is not None:
            self._hook(monitor)
        if previous is not None and previous not in self._fixed:
            self._unhook(previous)  # the old default stops copying features for drift

    def _unhook(self, monitor: Monitor) -> None:
        consume = self._consumers.pop(monitor, None)
        remove = getattr(monitor, "remove_feature_consumer", None)
        if consume is not None and remove is not None:
            remove(consume)

    def _hook(self, monitor: Monitor) -> None:
        """Register on ``monitor`` once; its records count only while it is a source."""
        if monitor in self._consumers:
            return
        config = getattr(monitor, "config", None)
        # A variant key the monitor keeps out of its output (PII, dropped) is never read.
        key = readable_key(self.variant_key, (*getattr(config, "pii_fields", ()),
                                              *getattr(config, "drop_fields", ())))

        def consume(records: list[InferenceRecord]) -> None:
            if monitor is self._followed or monitor in self._fixed:
                self._ingest(records, key)

        def collect() -> list[MetricPoint]:
            if monitor is self._followed or monitor in self._fixed:
                return self.metric_points()
            return []

        self._consumers[monitor] = consume
        # First, so each record carries its window (drift_window) for later consumers.
        monitor.add_feature_consumer(consume, first=True)
        if monitor not in self._collecting:  # a monitor has no remove_collector
            self._collecting.add(monitor)
            monitor.add_collector(collect)

    # -- ingestion (aggregator thread) --------------------------------------------

    def _groups(self, records: list[InferenceRecord], key: str | None,
                ) -> dict[tuple[str, str, str], list[InferenceRecord]]:
        """Records by (model, version, variant), transport-only records and other models
        left out. The caller holds the lock (the variant cap is shared)."""
        groups: dict[tuple[str, str, str], list[InferenceRecord]] = {}
        model, version, reader = self.model, self.version, self._variants
        last_endpoint: Any = None
        skip = True
        name = ver = static = ""
        bucket: list[InferenceRecord] | None = None  # the endpoint's static variant's
        # Calls mostly set their variant from a few interned strings: the last one read
        # is reused without a lookup.
        last_value: Any = None
        last_variant = NO_VARIANT
        for r in records:
            if not getattr(r, "inference", True):  # a transport request: never reached a model
                continue
            endpoint = r.endpoint
            if endpoint is not last_endpoint:
                last_endpoint = endpoint
                skip = (model is not None and endpoint.model_name != model) or (
                    version is not None and endpoint.model_version != version)
                name, ver = endpoint.model_name, endpoint.model_version
                static = NO_VARIANT if skip or key is None else reader.static(endpoint, key)
                bucket = last_value = None
            if skip:
                continue
            if key is not None:
                # Only a record with per-call attributes costs a lookup beyond its endpoint's.
                attributes = r.attributes
                value = attributes.get(key) if attributes else None
                if value is not None:
                    if value is not last_value:
                        last_value, last_variant = value, reader.name(name, value)
                    variant = last_variant
                    if variant != static:
                        own = groups.get((name, ver, variant))
                        if own is None:
                            own = groups[(name, ver, variant)] = []
                        own.append(r)
                        continue
            if bucket is None:
                bucket = groups.get((name, ver, static))
                if bucket is None:
                    bucket = groups[(name, ver, static)] = []
            bucket.append(r)
        return groups

    def ingest(self, records: list[InferenceRecord]) -> None:
        """Fold a drained batch of records into each model version's (and variant's) open
        window. Called directly, it reads ``variant_key`` whatever a monitor's PII fields."""
        self._ingest(records, self.variant_key)

    def _ingest(self, records: list[InferenceRecord], key: str | None) -> None:
        with self._lock:
            for (model, version, variant), group in self._groups(records, key).items():
                stream = self._streams.get(stream_key(model, version, variant))
                if stream is None:
                    stream = self._new_stream(model, version, variant)
                    if stream is None:
                        self._dropped_rows += sum(max(r.batch_size, 1) for r in group)
                        continue
                stream.ingest(group)

    def _new_stream(self, model: str, version: str, variant: str) -> Stream | None:
        """A stream for a (model, version, variant) not seen yet; None past ``max_models``."""
        versions = {(s.model, s.version) for s in self._streams.values()}
        if (model, version) not in versions and len(versions) >= self.max_models:
            return None
        if self._profile is not None:
            stream = Stream(model, version, self._profile, self._settings, variant=variant)
        else:
            warmup = self._warmups.get((model, version))
            if warmup is None:
                warmup = self._warmups[(model, version)] = warmup_for(model, self._settings)
            stream = Stream(model, version, warmup.profile, self._settings, variant=variant,
                            shared=False, warmup=warmup)
        self._streams[stream_key(model, version, variant)] = stream
        return stream

    # -- reports -------------------------------------------------------------------

    def _flush_sources(self) -> None:
        for mon in self._sources:  # aggregate records still buffered in the monitor
            mon.flush(logs=False)

    def _matching(self, model: str | None, version: str | None,
                  variant: str | None) -> list[Stream]:
        return [s for s in self._streams.values()
                if (model is None or s.model == model) and (version is None or s.version == version)
                and (variant is None or s.variant == variant)]

    def _seen(self) -> str:
        return ", ".join(f"{s.model} {s.version!r}" + (f" variant {s.variant!r}" if s.variant
                                                        else "")
                         for _, s in sorted(self._streams.items()))

    def _stream(self, model: str | None, version: str | None,
                variant: str | None = None) -> Stream:
        matches = self._matching(model, version, variant)
        if len(matches) == 1:
            return matches[0]
        if not self._streams:
            # Nothing seen yet: an empty report, on a stream that is not kept.
            name = model or self.model or (self._profile.model_name if self._profile else None)
            return Stream(name or "unknown", version or self.version or "", self._profile,
                          self._settings, variant=variant or NO_VARIANT)
        if not matches:
            about = f" variant {variant!r}" if variant is not None else ""
            raise ValueError(f"drift has seen no model {model!r} version {version!r}{about}; "
                             f"it has seen {self._seen()}")
        raise ValueError(f"drift sees several model versions or variants ({self._seen()}); "
                         "pass model=, version= and variant= to report(), or use reports()")

    def report(self, *, window: str | int = "auto", model: str | None = None,
               version: str | None = None, variant: str | None = None) -> DriftReport:
        """Drift of the last complete window ("auto"; the open one if none closed yet).

        ``window="open"`` reports on the window still filling, an integer on a
        past window by its index (see :meth:`history`). With several model
        versions or variants seen, ``model=`` / ``version=`` / ``variant=``
        say which (``variant=""``: the rows of no variant; None: any). Never
        raises on bad live data; the open window's report takes milliseconds
        (sketches only), a closed window's was made when it closed.
        """
        self._flush_sources()
        with self._lock:
            return self._stream(model, version, variant).report(window)

    def window_digests(self, *, model: str | None = None, version: str | None = None,
                       variant: str | None = None) -> list[dict[str, Any]]:
        """Every closed window still in the ledger (the last 512 per model version and
        variant), as a few numbers each: ``window``, ``opened_at`` / ``closed_at`` (this
        monitor's clock), ``rows``, ``status``, ``n_drifted``, its five highest-PSI
        ``features`` and ``prediction_psi``; with ``model``, ``version`` and ``variant``
        keys. Oldest first within each stream; ``variant=None`` lists every variant's."""
        with self._lock:
            out: list[dict[str, Any]] = []
            for stream in self._matching(model, version, variant):
                out.extend({"model": stream.model, "version": stream.version,
                            "variant": stream.variant, **d} for d in stream.digests)
        return out

    def open_windows(self) -> dict[Key, int]:
        """``{(model, version): index of the window filling now}``; a variant's stream is
        keyed ``(model, version, variant)``."""
        with self._lock:
            return {key: stream.open_index for key, stream in self._streams.items()
                    if stream.open_index is not None}

    def reports(self, *, window: str = "auto") -> dict[Key, DriftReport]:
        """One report per (model name, model version) seen, and per
        (model name, model version, variant) for rows of a variant."""
        self._flush_sources()
        with self._lock:
            return {key: s.report(window) for key, s in sorted(self._streams.items())}

    def history(self, *, model: str | None = None, version: str | None = None,
                variant: str | None = None) -> list[DriftReport]:
        """Reports of the last ``history`` closed windows, oldest first."""
        self._flush_sources()
        with self._lock:
            return self._stream(model, version, variant).history()

    def by_variant(self, control: str | None = None, *, model: str | None = None,
                   version: str | None = None) -> dict[str, dict[str, Any]]:
        """Each variant's drift and prediction distribution, and each against ``control``.

        ::

            drift.by_variant("control")["treatment"]["vs_control"]["psi"]

        One entry per variant seen (rows of no variant left out), read from
        the window its report is about (the last closed one, the open one
        before any closed): ``model``, ``version``, ``status``,
        ``warming_up``, ``window``, ``rows``, ``n_drifted``, ``psi_max`` (the
        highest feature PSI), ``prediction_psi`` (against the reference),
        ``prediction`` (``n`` and ``mean`` / ``p10`` / ``p50`` / ``p90``, or
        the share of each reference class) and, with ``control``, for every
        other variant ``vs_control``: the prediction's PSI (on the
        reference's bins) and KS statistic and p-value (or chi-square for
        classes) of the variant's window against the control's. A variant
        seen in several model versions shows its worst; pass ``version=``
        to choose.
        """
        self._flush_sources()
        with self._lock:
            streams = [s for s in self._matching(model, version, None) if s.variant]
            return variant_entries(streams, control)

    def metric_points(self) -> list[MetricPoint]:
        """The collector: every stream's last closed window, and windows by status."""
        with self._lock:
            points = [p for s in self._streams.values() for p in stream_points(s)]
            bad = (sum(s.bad_records for s in self._streams.values())
                   + sum(w.bad_records for w in self._warmups.values()))
            for reason, n in (("drift_models_full", self._dropped_rows),
                              ("drift_unreadable_record", bad)):
                if n:
                    points.append(MetricPoint("inferwatch.self.dropped",
                                              {"inferwatch.reason": reason}, n))
        return points

    @property
    def nbytes(self) -> int:
        """Memory held by the live sketches (all kept windows of every version)."""
        with self._lock:
            return sum(s.nbytes for s in self._streams.values())


def watch(
    profile: ReferenceProfile | str | os.PathLike[str] | None = None,
    monitor: Monitor | None = None,
    **options: Any,
) -> DriftMonitor:
    """Start drift monitoring in one line: build a :class:`DriftMonitor` and attach it.

    ::

        import inferwatch.drift
        drift = inferwatch.drift.watch("churn.iwprofile")   # follows the default monitor

    Without ``monitor`` it follows the process default, including one made by
    a later ``inferwatch.configure(...)``.
    """
    return DriftMonitor(profile, **options).attach(monitor)
