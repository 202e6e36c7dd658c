"""Turn a window's sketches into a :class:`DriftReport` (compare, correct, decide)."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._compare import TEST_FOR_KIND, categorical_stats, numeric_stats, vector_stats
from ._decide import Thresholds, adjust, decide_level
from ._feature_profile import (
    CATEGORICAL,
    NUMERIC,
    VECTOR,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
)
from ._profile import ReferenceProfile
from ._report import NO_DATA, STATUSES, DriftReport, FeatureDrift, Quality, Statistic, WindowInfo
from ._window import CategoricalState, NumericState, State, Window


@dataclass(frozen=True)
class Options:
    tests: Collection[str]
    thresholds: Thresholds
    calibrated: bool
    correction: str
    decision: str
    importances: Mapping[str, float] | None
    permutations: int
    dataset_drift_share: float


@dataclass
class _Raw:
    name: str
    kind: str
    stats: dict[str, Statistic]
    n_ref: int
    n_cur: int
    quality: Quality


def _reference_side(ref: FeatureProfile | State) -> tuple[Any, Any, Any]:
    """(counts, sorted view, std) of a numeric reference, profile or earlier window alike."""
    if isinstance(ref, NumericProfile):
        return ref.counts, ref.kll, ref.std
    if isinstance(ref, NumericState):
        return ref.counts, ref, None
    return None, None, None


def raw_feature(
    name: str, prof: FeatureProfile, ref: FeatureProfile | State, cur: State, opts: Options
) -> _Raw:
    tests = opts.tests
    if isinstance(cur, NumericState):
        counts, kll, std = _reference_side(ref)
        stats = numeric_stats(counts, kll, std, cur.counts, cur, tests)
        quality = Quality(cur.rows, cur.missing, max(cur.nan, 0), cur.inf, cur.invalid,
                          cur.out_of_range)
        return _Raw(name, NUMERIC, stats, 0 if kll is None else kll.n, cur.n, quality)
    if isinstance(cur, CategoricalState):
        ref_topk = ref.topk if isinstance(ref, (CategoricalProfile, CategoricalState)) else None
        stats = {} if ref_topk is None else categorical_stats(ref_topk, cur.topk, tests)
        known = set(prof.topk.counts) if isinstance(prof, CategoricalProfile) else set()
        new = cur.topk.new_categories(known)
        counts = cur.topk.counts
        ordered = tuple(sorted(new, key=lambda c: -counts[c])[:20])
        quality = Quality(cur.rows, cur.missing, 0, 0, cur.invalid, 0, ordered,
                          sum(counts[c] for c in new))
        return _Raw(name, CATEGORICAL, stats, 0 if ref_topk is None else ref_topk.n, cur.n,
                    quality)
    ref_sample = getattr(ref, "sample", None)
    stats = {}
    n_ref = 0
    if ref_sample is not None:
        n_ref = ref_sample.n
        stats = vector_stats(ref_sample.rows, cur.sample.rows, tests,
                             permutations=opts.permutations)
    quality = Quality(cur.rows, cur.missing, max(cur.nan, 0), 0, cur.invalid)
    return _Raw(name, VECTOR, stats, n_ref, cur.n, quality)


def _with_adjusted(raws: list[_Raw], correction: str) -> list[_Raw]:
    slots = [(i, TEST_FOR_KIND[r.kind]) for i, r in enumerate(raws)
             if TEST_FOR_KIND[r.kind] in r.stats
             and r.stats[TEST_FOR_KIND[r.kind]].pvalue is not None]
    adjusted = adjust([raws[i].stats[t].pvalue or 0.0 for i, t in slots], correction)
    for (i, t), p in zip(slots, adjusted, strict=True):
        s = raws[i].stats[t]
        raws[i].stats[t] = Statistic(s.name, s.value, s.pvalue, p)
    return raws


def decide(raw: _Raw, t: Thresholds, opts: Options, importance: float | None,
           previous: FeatureDrift | None = None,
           shared: dict[Thresholds, dict[str, float]] | None = None) -> FeatureDrift:
    """One rule for every sample size: significance and effect size (see ``_decide``)."""
    test = TEST_FOR_KIND[raw.kind]
    stat = raw.stats.get(test)
    pvalue = None if stat is None or opts.decision == "distance" else stat.adjusted_pvalue
    psi = raw.stats.get("psi")
    effect = None if psi is None or opts.decision == "pvalue" else psi.value
    decision = None if raw.n_cur == 0 else decide_level(pvalue, effect, t)
    if decision is None:
        status, level, alert, by = NO_DATA, 0, False, ""
        significant = material = None
    else:
        status, level, alert = STATUSES[decision.level], decision.level, decision.alert
        significant, material = decision.significant, decision.material
        by = "+".join(n for n, v in ((test, pvalue), ("psi", effect)) if v is not None)
    return FeatureDrift(
        name=raw.name, kind=raw.kind, status=status, level=level, alert=alert, decided_by=by,
        statistics=raw.stats, n_reference=raw.n_ref, n_current=raw.n_cur,
        thresholds=t.as_dict() if shared is None else shared.setdefault(t, t.as_dict()),
        quality=raw.quality, importance=importance, previous=previous,
        significant=significant, material=material,
    )


def assess_family(
    profiles: Mapping[str, FeatureProfile],
    refs: Mapping[str, FeatureProfile | State],
    states: Mapping[str, State],
    opts: Options,
    profile: ReferenceProfile,
    previous: Mapping[str, FeatureDrift] | None = None,
) -> dict[str, FeatureDrift]:
    """Drift of a family of features (or outputs), p-values corrected within it."""
    raws = _with_adjusted(
        [raw_feature(n, profiles[n], refs[n], states[n], opts) for n in states if n in refs],
        opts.correction,
    )
    importances = opts.importances or profile.importances or {}
    out = {}
    shared: dict[Thresholds, dict[str, float]] = {}  # one dict per distinct thresholds
    for raw in raws:
        t = opts.thresholds
        cal = profile.calibration.get(raw.name)
        if opts.calibrated and cal is not None and raw.name in profile.features:
            t = t.calibrated(cal)
        prev = None if previous is None else previous.get(raw.name)
        out[raw.name] = decide(raw, t, opts, importances.get(raw.name), prev, shared)
    return out


def multivariate(profile: ReferenceProfile, window: Window, opts: Options) -> FeatureDrift | None:
    """MMD on the numeric row samples, standardised by the reference moments."""
    if profile.rows is None or window.row_sample is None or window.row_sample.n < 2:
        return None
    feats = [profile.features[n] for n in profile.row_features]
    center = np.array([getattr(f, "mean", 0.0) for f in feats])
    scale = np.array([getattr(f, "std", 1.0) for f in feats])
    stats = vector_stats(profile.rows.rows, window.row_sample.rows, opts.tests,
                         permutations=opts.permutations, center=center, scale=scale)
    if not stats:
        return None
    s = stats["mmd"]
    stats["mmd"] = Statistic(s.name, s.value, s.pvalue, s.pvalue)
    raw = _Raw("_rows", VECTOR, stats, profile.rows.n, window.row_sample.n,
               Quality(window.rows))
    return decide(raw, opts.thresholds, opts, None)


def window_report(
    profile: ReferenceProfile,
    win: Window,
    before: Window | None,
    opts: Options,
    *,
    model: str,
    version: str,
    spec: str,
    variant: str = "",
) -> DriftReport:
    """The whole report of one window: features, outputs, multivariate, dataset level.

    With ``before`` (the window that closed just before ``win``), every
    feature and output also carries its comparison with it (``previous``),
    decided by the same rule.
    """
    started = time.perf_counter()
    win.fold()
    prev_feat = prev_out = None
    if before is not None:
        before.fold()
        prev_feat = assess_family(profile.features, before.features, win.features, opts, profile)
        prev_out = assess_family(profile.outputs, before.outputs, win.outputs, opts, profile)
    features = assess_family(profile.features, profile.features, win.features, opts, profile,
                             prev_feat)
    outputs = assess_family(profile.outputs, profile.outputs, win.outputs, opts, profile,
                            prev_out)
    with_data = [f for f in features.values() if f.status != NO_DATA]
    drifted = [f for f in with_data if f.drifted]
    share = len(drifted) / len(with_data) if with_data else 0.0
    # Without importances every feature weighs the same, so the weighted score is
    # the drifted share; with them, features missing from the mapping weigh 0.
    imps = opts.importances or profile.importances
    weighted = share
    if imps:
        total = sum(imps.get(f.name, 0.0) for f in with_data)
        hit = sum(imps.get(f.name, 0.0) for f in drifted)
        weighted = hit / total if total > 0 else 0.0
    multi = multivariate(profile, win, opts)
    levels = [f.level for f in (*with_data, *outputs.values())]
    if multi is not None:
        levels.append(multi.level)
    if win.rows == 0:
        status = NO_DATA
    elif with_data and share >= opts.dataset_drift_share:
        status = "drift"
    elif any(levels):
        status = "warning"
    else:
        status = "ok"
    alerts = [f.alert for f in (*with_data, *outputs.values())]
    missing = tuple(n for n, f in features.items() if f.quality.rows
                    and f.quality.missing == f.quality.rows)
    return DriftReport(
        model_name=model,
        model_version=version,
        variant=variant,
        window=WindowInfo(win.index, spec, win.rows, win.complete, win.opened_at, win.closed_at),
        features=features, outputs=outputs, multivariate=multi,
        n_drifted=len(drifted), drifted_share=share, weighted_score=weighted,
        status=status, alert=any(alerts), unknown_features=dict(win.unknown),
        missing_features=missing, unreadable_rows=win.n_unreadable,
        correction=opts.correction, reference_rows=profile.n_rows,
        compute_seconds=time.perf_counter() - started,
    )
