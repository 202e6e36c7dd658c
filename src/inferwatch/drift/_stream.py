"""One model version's (or variant's) drift: its reference, live windows and past reports.

A :class:`Stream` is what a :class:`~._drift_monitor.DriftMonitor` keeps per
(model name, model version, variant), so a canary and the version it
replaces, or the treatment of an A/B test and its control, never share a
window. Variants of one version share its reference: the profile given, or
the one their shared :class:`~._warmup.Warmup` freezes. Each window's
report is computed once, when the window closes (the window before it is
still kept then, for ``compare_previous``), and kept in a bounded history;
the closed windows are also counted by status, so an exporter that runs
less often than windows close misses none.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .._record import InferenceRecord
from ..stats._binning import IntArray
from ._assess import Options, window_report
from ._columns import FloatArray
from ._feature_profile import NumericProfile
from ._ingest import Batch, Schema, convert, gather
from ._profile import ReferenceProfile
from ._report import NO_DATA, STATUSES, DriftReport
from ._warmup import Warmup
from ._window import NumericState, Window
from ._windows import Windows, WindowSpec

#: Closed windows whose digest a stream keeps (a few hundred bytes each).
DIGESTS = 512
#: Features named in a digest, highest PSI first.
DIGEST_FEATURES = 5

#: Window statuses counted by ``inferwatch.drift.windows``.
WINDOW_STATUSES = (*STATUSES, NO_DATA)


@dataclass(frozen=True)
class Settings:
    """What every stream of one DriftMonitor shares."""

    opts: Options
    spec: WindowSpec
    compare_previous: bool
    history: int
    warmup_rows: int
    categorical: tuple[str, ...]
    feature_names: tuple[str, ...]
    kll_k: int
    exact_rows: int
    sample_rows: int
    fold_rows: int
    max_unknown: int
    fleet_bins: int
    clock: Callable[[], float]
    #: The only variant whose rows a warm-up freezes into the reference (None: every one).
    reference_variant: str | None = None


def warmup_for(model: str, settings: Settings) -> Warmup:
    """A new warm-up of ``model``'s live rows, as ``settings`` say."""
    return Warmup(model, rows=settings.warmup_rows, feature_names=settings.feature_names,
                  categorical=settings.categorical)


class Stream:
    """The windows and reports of one (model, version, variant); the caller holds the lock.

    Without a ``profile`` the stream waits on ``warmup`` (its own when not
    given; the one its version's other variants share otherwise) and is
    frozen with the reference it makes. ``shared`` says whether the profile
    is the one every replica has (a given one) or this process's own.
    """

    def __init__(self, model: str, version: str, profile: ReferenceProfile | None,
                 settings: Settings, *, variant: str = "", shared: bool = True,
                 warmup: Warmup | None = None) -> None:
        self.model = model
        self.version = version
        self.variant = variant
        self._s = settings
        self.profile: ReferenceProfile | None = None
        self._schema: Schema | None = None
        self._windows: Windows | None = None
        self.warmup = warmup if warmup is not None or profile is not None else warmup_for(
            model, settings)
        self._history: deque[DriftReport] = deque(maxlen=max(settings.history, 1))
        self.closed_by_status = dict.fromkeys(WINDOW_STATUSES, 0)
        #: Records lost because a value in them broke conversion (counted, survived).
        self.bad_records = 0
        self._changes = 0
        self._open_cache: tuple[int, DriftReport] | None = None
        #: A few numbers of each closed window, long after its report left the history:
        #: what label quality, joined days later, is set beside (``window_digests``).
        self.digests: deque[dict[str, Any]] = deque(maxlen=DIGESTS)
        #: Rows per reference bin of every closed window, per exported numeric column.
        self._closed_bins: dict[str, IntArray] = {}
        self._binned: tuple[tuple[str, str], ...] = ()
        if profile is not None:
            self.freeze(profile, shared=shared)
        elif self.warmup is not None:
            self.warmup.members.append(self)

    # -- setup ------------------------------------------------------------------------

    def freeze(self, profile: ReferenceProfile, *, shared: bool = True) -> None:
        """Compare with ``profile`` from now on (its first window opens now)."""
        s = self._s
        self.profile = profile
        self._schema = Schema.from_profile(profile)
        # A reference frozen from this replica's own warm-up differs from every other
        # replica's: a fleet PSI against a mix of them would mean nothing.
        self._binned = binned_columns(profile, s.fleet_bins) if shared else ()

        def factory(index: int, opened_at: float) -> Window:
            return Window(profile, index, opened_at, kll_k=s.kll_k, exact_rows=s.exact_rows,
                          sample_rows=s.sample_rows, fold_rows=s.fold_rows,
                          max_unknown=s.max_unknown)

        self._windows = Windows(s.spec, factory, s.clock, on_close=self._closed)

    @property
    def open_index(self) -> int | None:
        """The index of the window filling now (None while warming up)."""
        return None if self._windows is None else self._windows.open.index

    @property
    def warming_up(self) -> bool:
        return self.profile is None

    # -- ingestion (aggregator thread) ------------------------------------------------

    def ingest(self, records: Sequence[InferenceRecord]) -> None:
        """Fold this stream's records into the open window (or the warm-up)."""
        if self._schema is None or self._windows is None:
            # The batch that completes the warm-up is the reference's, never a window's.
            reference = self._s.reference_variant
            if self.warmup is not None and reference in (None, self.variant):
                self.warmup.add(records)
            return
        try:
            batches = [(self._convert(records), records)]
        except Exception:
            # A value that breaks conversion (a mapping whose keys() raises) costs its
            # own record, never the batch: one at a time, the others go in. Nothing
            # has been folded yet, so no row is counted twice.
            batches = []
            for record in records:
                try:
                    batches.append((self._convert([record]), [record]))
                except Exception:
                    self.bad_records += 1
        for batch, taken in batches:
            if batch is not None:
                self._tag(taken)
                self._windows.add(batch)
                self._changes += 1
        if self._s.spec.kind == "time":
            index = self._windows.open.index  # add() closed what was due: all went here
            for record in records:
                record.drift_window = index

    def _tag(self, records: Sequence[InferenceRecord]) -> None:
        """Tell each record which count window its (first) row goes into."""
        windows = self._windows
        if windows is None or self._s.spec.kind == "time":
            return
        size = int(self._s.spec.size)
        index, filled = windows.open.index, windows.open.rows
        for record in records:
            record.drift_window = index + filled // size
            if record.features is not None:
                filled += record.batch_size if record.batch_size > 0 else 1

    def _convert(self, records: Sequence[InferenceRecord]) -> Batch | None:
        assert self._schema is not None
        table, raw, _ = gather(records, self._schema.names, None)
        if table.n_rows == 0 and table.n_unreadable == 0:
            return None
        return convert(table, raw, self._schema, self._s.max_unknown)

    # -- reports ----------------------------------------------------------------------

    def _compute(self, win: Window, before: Window | None) -> DriftReport:
        assert self.profile is not None
        if not self._s.compare_previous or (before is not None
                                            and before.index != win.index - 1):
            before = None
        return window_report(self.profile, win, before, self._s.opts, model=self.model,
                             version=self.version, spec=self._s.spec.describe(),
                             variant=self.variant)

    def _closed(self, win: Window) -> None:
        # Called before ``win`` joins the closed windows: the one before it is the
        # last closed window still.
        report = self._compute(win, self._windows.closed[-1] if (
            self._windows is not None and self._windows.closed) else None)
        self._history.append(report)
        self.closed_by_status[report.status] = self.closed_by_status.get(report.status, 0) + 1
        self.digests.append(digest(report, win))
        for name, counts in _window_bins(win, self._binned).items():
            total = self._closed_bins.get(name)
            if total is None:
                self._closed_bins[name] = counts.copy()
            else:
                total += counts

    def bin_rows(self) -> dict[str, tuple[IntArray, FloatArray]]:
        """Live rows per reference bin since the stream began, and the reference's shares.

        For each exported numeric column: every closed window's counts plus the
        open window's (folded first), so the totals only ever grow and sum
        exactly across replicas.
        """
        if self.profile is None or self._windows is None or not self._binned:
            return {}
        self.tick()
        self._windows.open.fold()
        live = _window_bins(self._windows.open, self._binned)
        out: dict[str, tuple[IntArray, FloatArray]] = {}
        for family, name in self._binned:
            ref = _reference_counts(self.profile, family, name)
            counts = live.get(name)
            if ref is None or counts is None:
                continue
            closed = self._closed_bins.get(name)
            total = counts + closed if closed is not None else counts.copy()
            out[name] = (total, ref / ref.sum())
        return out

    def tick(self) -> None:
        """Close the open time window if its time is up (its report is made then)."""
        if self._windows is not None and self._windows.tick():
            self._changes += 1

    def report(self, which: str | int = "auto") -> DriftReport:
        """The last closed window's report ("auto"; the open one's if none closed yet),
        the open window's ("open"), or a past window's by its index."""
        if self.profile is None or self._windows is None:
            return DriftReport(model_name=self.model, model_version=self.version, window=None,
                               features={}, warming_up=True,
                               warmup_rows=0 if self.warmup is None else self.warmup.n_rows,
                               correction=self._s.opts.correction, variant=self.variant)
        self.tick()
        if isinstance(which, int) and not isinstance(which, bool):
            for past in self._history:
                if past.window is not None and past.window.index == which:
                    return past
            kept = [r.window.index for r in self._history if r.window is not None]
            raise ValueError(
                f"window {which} is not kept; the history holds windows "
                f"{', '.join(map(str, kept)) or 'none yet'} (history={self._s.history})"
            )
        if which not in ("auto", "closed", "open"):
            raise ValueError(f"window must be 'auto', 'closed', 'open' or a window index, "
                             f"got {which!r}")
        if which != "open" and self._history:
            return self._history[-1]
        cached = self._open_cache
        if cached is not None and cached[0] == self._changes:
            return cached[1]
        started = time.perf_counter()
        closed = self._windows.closed
        report = self._compute(self._windows.open, closed[-1] if closed else None)
        report = replace(report, compute_seconds=time.perf_counter() - started)
        self._open_cache = (self._changes, report)
        return report

    def reported_window(self) -> Window | None:
        """The window ``report("auto")`` is about: the last closed one, else the open one
        (its staged rows folded); None while warming up."""
        if self._windows is None:
            return None
        self.tick()
        if self._windows.closed:
            return self._windows.closed[-1]
        self._windows.open.fold()
        return self._windows.open

    def history(self) -> list[DriftReport]:
        """Reports of the closed windows still kept, oldest first."""
        self.tick()
        return list(self._history)

    @property
    def nbytes(self) -> int:
        if self._windows is None:
            return 0
        return sum(w.nbytes for w in (self._windows.open, *self._windows.closed))


def binned_columns(profile: ReferenceProfile, limit: int) -> tuple[tuple[str, str], ...]:
    """The (family, name) of the numeric columns whose bins are exported, at most ``limit``.

    Outputs come first (prediction drift is what a fleet alert is most often
    about), then features in the profile's order; a feature named like an
    output is left out (their series would share one ``inferwatch.feature``).
    """
    chosen: list[tuple[str, str]] = []
    for family, columns in (("outputs", profile.outputs), ("features", profile.features)):
        for name in columns:
            if len(chosen) >= limit:
                return tuple(chosen)
            ref = _reference_counts(profile, family, name)
            if ref is not None and ref.sum() > 0 and all(n != name for _, n in chosen):
                chosen.append((family, name))
    return tuple(chosen)


def _reference_counts(profile: ReferenceProfile, family: str, name: str) -> IntArray | None:
    prof = (profile.outputs if family == "outputs" else profile.features).get(name)
    counts = getattr(prof, "counts", None) if isinstance(prof, NumericProfile) else None
    return None if counts is None else counts.counts


def _window_bins(win: Window, binned: tuple[tuple[str, str], ...]) -> dict[str, IntArray]:
    out: dict[str, IntArray] = {}
    for family, name in binned:
        state = (win.outputs if family == "outputs" else win.features).get(name)
        if isinstance(state, NumericState) and state.counts is not None:
            out[name] = state.counts.counts
    return out


def digest(report: DriftReport, win: Window) -> dict[str, Any]:
    """A closed window in a few numbers: its status and its highest-PSI features."""
    def psi(fd: Any) -> float | None:
        value = fd.score("psi")
        return None if value is None or value != value else float(value)

    scored = [(fd.name, psi(fd), fd.status) for fd in report.features.values()]
    ranked = sorted(((n, v, st) for n, v, st in scored if v is not None), key=lambda f: -f[1])
    prediction = report.outputs.get("prediction")
    return {
        "window": win.index, "opened_at": win.opened_at, "closed_at": win.closed_at,
        "rows": win.rows, "status": report.status, "n_drifted": report.n_drifted,
        "features": [{"name": name, "psi": value, "status": status}
                     for name, value, status in ranked[:DIGEST_FEATURES]],
        "prediction_psi": None if prediction is None else psi(prediction),
    }
