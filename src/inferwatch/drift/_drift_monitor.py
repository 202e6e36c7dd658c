"""DriftMonitor: live windows fed by a Monitor's aggregator, reports on demand."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from .._catalogue import MetricPoint
from .._monitor import Monitor, get_monitor
from .._record import InferenceRecord
from ..sketches import DEFAULT_K
from ._assess import Options, assess_family, multivariate
from ._build import build_profile
from ._columns import TableBuilder
from ._compare import ALL_TESTS
from ._decide import CORRECTIONS, DECISIONS, Thresholds
from ._ingest import Schema, convert, gather
from ._metrics import report_points
from ._profile import ReferenceProfile
from ._report import DriftReport, WindowInfo
from ._window import EXACT_ROWS, Window
from ._windows import Windows, parse_window


class DriftMonitor:
    """Data and prediction drift of one model's live traffic against a reference.

    ::

        drift = DriftMonitor("churn.iwprofile", window="count:10000").attach(monitor)
        report = drift.report()
        print(report.drifted_features)

    Ingestion runs on the monitor's aggregator thread, once per drained batch
    (columns are built with numpy and folded into sketches every
    ``fold_rows`` rows); statistics are computed only by :meth:`report` and at
    metric collection. Memory is bounded by the number of features, never by
    traffic: three windows of sketches at most.

    Args:
        profile: a :class:`ReferenceProfile`, a path to a profile file, or
            None to freeze the reference from the first ``warmup_rows`` live rows.
        window: ``"count:N"`` rows, ``"time:S"`` seconds, or a number of seconds.
        compare_previous: also compare each window with the one before it
            (``FeatureDrift.previous``).
        tests: statistics to compute, from psi, js, ks, wasserstein,
            chi_square, mmd (PSI is always computed).
        thresholds: a :class:`Thresholds`, a mapping of its fields, or
            ``"calibrated"`` for per-feature thresholds from the profile.
        correction: "bh" (Benjamini-Hochberg), "bonferroni" or "none".
        decision: "auto" (p-values for small samples, distances for large:
            see :mod:`inferwatch.drift._decide`), "pvalue" or "distance".
        large_sample: effective sample size where "auto" switches to distances.
        importances: feature importances (default: the profile's).
        warmup_rows: live rows frozen into the reference when there is no profile.
        model: only records of this model name (default: all records).
        categorical, feature_names: how to read warm-up rows (as build_profile).
        kll_k: accuracy of the live KLL sketches (rank error about 1/k).
        exact_rows: finite values per numeric feature a window keeps exactly
            (8 bytes each) before it switches to its KLL sketch, so that small
            windows, where the p-value rule decides, get exact KS statistics.
        clock: seconds, for time windows (tests inject one).
    """

    def __init__(
        self,
        profile: ReferenceProfile | str | os.PathLike[str] | None = None,
        *,
        window: str | float | int = "count:10000",
        compare_previous: bool = False,
        tests: Collection[str] | None = None,
        thresholds: Thresholds | Mapping[str, float] | str | None = None,
        correction: str = "bh",
        decision: str = "auto",
        large_sample: int = 1000,
        importances: Mapping[str, float] | None = None,
        warmup_rows: int = 10_000,
        model: str | None = None,
        categorical: Sequence[str] | None = None,
        feature_names: Sequence[str] | None = None,
        dataset_drift_share: float = 0.5,
        mmd_permutations: int = 100,
        sample_rows: int = 256,
        kll_k: int = DEFAULT_K,
        exact_rows: int = EXACT_ROWS,
        fold_rows: int = 2048,
        max_unknown_features: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if correction not in CORRECTIONS:
            raise ValueError(
                f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}"
            )
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
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
            base = Thresholds(**thresholds)
        else:
            base = Thresholds()
        if warmup_rows < 2:
            raise ValueError(f"warmup_rows must be >= 2, got {warmup_rows}")
        self._spec = parse_window(window)
        self._opts = Options(
            tests=chosen | {"psi"}, thresholds=base, calibrated=calibrated,
            correction=correction, decision=decision, large_sample=large_sample,
            importances=importances, permutations=mmd_permutations,
            dataset_drift_share=dataset_drift_share,
        )
        self.compare_previous = compare_previous
        self.model = model
        self.warmup_rows = warmup_rows
        self._categorical = list(categorical or ())
        self._feature_names = list(feature_names or ())
        if exact_rows < 0:
            raise ValueError(f"exact_rows must be >= 0, got {exact_rows}")
        self._kll_k, self._sample_rows, self._fold_rows = kll_k, sample_rows, fold_rows
        self._exact_rows = exact_rows
        self._max_unknown = max_unknown_features
        self._clock = clock
        self._lock = threading.Lock()
        self._model_name = model
        self._profile: ReferenceProfile | None = None
        self._schema: Schema | None = None
        self._windows: Windows | None = None
        self._warmup = TableBuilder(self._feature_names)
        self._warm_outputs: dict[str, list[Any]] = {"prediction": [], "confidence": [],
                                                    "sizes": []}
        self._version = 0
        self._monitors: list[Monitor] = []
        self._cache: tuple[tuple[int, str], DriftReport] | None = None
        if profile is not None:
            if not isinstance(profile, ReferenceProfile):
                profile = ReferenceProfile.load(os.fspath(profile))
            self._freeze(profile)

    # -- setup --------------------------------------------------------------------

    def _freeze(self, profile: ReferenceProfile) -> None:
        self._profile = profile
        self._schema = Schema.from_profile(profile)
        if self._model_name is None:
            self._model_name = profile.model_name
        if not self._feature_names:
            self._feature_names = list(profile.features)

        def factory(index: int, opened_at: float) -> Window:
            return Window(profile, index, opened_at, kll_k=self._kll_k,
                          exact_rows=self._exact_rows,
                          sample_rows=self._sample_rows, fold_rows=self._fold_rows,
                          max_unknown=self._max_unknown)

        self._windows = Windows(self._spec, factory, self._clock)

    @property
    def profile(self) -> ReferenceProfile | None:
        """The reference (None while warming up)."""
        return self._profile

    @property
    def warming_up(self) -> bool:
        return self._profile is None

    def attach(self, monitor: Monitor | None = None) -> DriftMonitor:
        """Feed from ``monitor`` (default: the process default) and export at its collection."""
        mon = monitor if monitor is not None else get_monitor()
        mon.add_feature_consumer(self.ingest)
        mon.add_collector(self.metric_points)
        self._monitors.append(mon)
        return self

    # -- ingestion (aggregator thread) --------------------------------------------

    def ingest(self, records: list[InferenceRecord]) -> None:
        """Fold a drained batch of records into the open window (or the warm-up)."""
        with self._lock:
            if self._schema is None:
                self._ingest_warmup(records)
                return
            table, raw, seen = gather(records, self._schema.names, self.model)
            if self._model_name is None:
                self._model_name = seen
            if table.n_rows == 0 and table.n_unreadable == 0:
                return
            batch = convert(table, raw, self._schema, self._max_unknown)
            if self._windows is not None:  # always set together with the schema
                self._windows.add(batch)
            self._version += 1

    def _ingest_warmup(self, records: list[InferenceRecord]) -> None:
        outs = self._warm_outputs
        for r in records:
            if self.model is not None and r.endpoint.model_name != self.model:
                continue
            if self._model_name is None:
                self._model_name = r.endpoint.model_name
            bs = r.batch_size if r.batch_size > 0 else 1
            self._warmup.add(r.features, bs)
            outs["prediction"].append(r.prediction if r.outcome == "ok" else None)
            outs["confidence"].append(r.confidence)
            outs["sizes"].append(bs)
        if self._warmup.n_rows < self.warmup_rows:
            return
        self._freeze(self._profile_from_warmup())
        self._warmup = TableBuilder()
        self._warm_outputs = {"prediction": [], "confidence": [], "sizes": []}

    def _profile_from_warmup(self) -> ReferenceProfile:
        from ._ingest import output_parts

        table = self._warmup.build()
        outs = self._warm_outputs
        kwargs: dict[str, Any] = {}
        for name in ("prediction", "confidence"):
            if any(v is not None for v in outs[name]):
                cells: list[Any] = []
                for part in output_parts(outs[name], outs["sizes"], None):
                    cells.extend(part.tolist() if hasattr(part, "tolist") else part)
                if len(cells) == table.n_rows:
                    kwargs[name] = cells
        return build_profile(
            table, categorical=[c for c in self._categorical if c in table.parts],
            model_name=self._model_name, calibrate=False, **kwargs,
        )

    # -- reports -------------------------------------------------------------------

    def report(self, *, window: str = "auto") -> DriftReport:
        """Drift of the last complete window ("auto"; the open one if none closed yet).

        ``window="open"`` reports on the window still filling. Never raises on
        bad live data; computing it takes milliseconds (sketches only).
        """
        for mon in self._monitors:  # aggregate records still buffered in the monitor
            mon.flush(logs=False)
        with self._lock:
            return self._report(window)

    def _report(self, which: str) -> DriftReport:
        started = time.perf_counter()
        model = self._model_name or "unknown"
        if self._profile is None or self._windows is None:
            rows = self._warmup.n_rows
            return DriftReport(model_name=model, window=None, features={}, warming_up=True,
                               warmup_rows=rows, correction=self._opts.correction)
        if self._windows.tick():
            self._version += 1
        key = (self._version, which)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        profile = self._profile
        win = self._windows.current(which)
        win.fold()
        prev_feat = prev_out = None
        if self.compare_previous:
            before = self._windows.before(win)
            if before is not None:
                before.fold()
                prev_feat = assess_family(profile.features, before.features, win.features,
                                          self._opts, profile)
                prev_out = assess_family(profile.outputs, before.outputs, win.outputs,
                                         self._opts, profile)
        features = assess_family(profile.features, profile.features, win.features, self._opts,
                                 profile, prev_feat)
        outputs = assess_family(profile.outputs, profile.outputs, win.outputs, self._opts,
                                profile, prev_out)
        report = self._summarise(model, win, features, outputs, profile)
        report = _with_time(report, time.perf_counter() - started)
        self._cache = (key, report)
        return report

    def _summarise(self, model: str, win: Window, features: dict[str, Any],
                   outputs: dict[str, Any], profile: ReferenceProfile) -> DriftReport:
        with_data = [f for f in features.values() if f.status != "no_data"]
        drifted = [f for f in with_data if f.drifted]
        share = len(drifted) / len(with_data) if with_data else 0.0
        weighted = None
        imps = self._opts.importances or profile.importances
        if imps:
            total = sum(imps.get(f.name, 0.0) for f in with_data)
            hit = sum(imps.get(f.name, 0.0) for f in drifted)
            weighted = hit / total if total > 0 else 0.0
        multi = multivariate(profile, win, self._opts)
        levels = [f.level for f in (*with_data, *outputs.values())]
        if multi is not None:
            levels.append(multi.level)
        status = "ok"
        if with_data and share >= self._opts.dataset_drift_share:
            status = "drift"
        elif any(levels):
            status = "warning"
        alerts = [f.alert for f in (*with_data, *outputs.values())]
        missing = tuple(n for n, f in features.items() if f.quality.rows
                        and f.quality.missing == f.quality.rows)
        return DriftReport(
            model_name=model,
            window=WindowInfo(win.index, self._spec.describe(), win.rows, win.complete,
                              win.opened_at, win.closed_at),
            features=features, outputs=outputs, multivariate=multi,
            n_drifted=len(drifted), drifted_share=share, weighted_score=weighted,
            status=status, alert=any(alerts), unknown_features=dict(win.unknown),
            missing_features=missing, unreadable_rows=win.n_unreadable,
            correction=self._opts.correction, reference_rows=profile.n_rows,
        )

    def metric_points(self) -> list[MetricPoint]:
        """The collector: metric points of the current report (the monitor has drained)."""
        with self._lock:
            return report_points(self._report("auto"))

    @property
    def nbytes(self) -> int:
        """Memory held by the live sketches (all kept windows)."""
        with self._lock:
            if self._windows is None:
                return 0
            wins = [self._windows.open, *self._windows.closed]
            return sum(w.nbytes for w in wins)


def _with_time(report: DriftReport, seconds: float) -> DriftReport:
    from dataclasses import replace

    return replace(report, compute_seconds=seconds)


def watch(
    profile: ReferenceProfile | str | os.PathLike[str] | None = None,
    monitor: Monitor | None = None,
    **options: Any,
) -> DriftMonitor:
    """Start drift monitoring in one line: build a :class:`DriftMonitor` and attach it.

    ::

        import inferwatch.drift
        drift = inferwatch.drift.watch("churn.iwprofile")   # the default monitor
    """
    return DriftMonitor(profile, **options).attach(monitor)
