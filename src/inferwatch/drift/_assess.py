"""Turn a window's sketches into a :class:`DriftReport` (compare, correct, decide)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._compare import TEST_FOR_KIND, categorical_stats, numeric_stats, vector_stats
from ._decide import Thresholds, adjust, effective_n, level_from_distance, level_from_pvalue
from ._profile import (
    CATEGORICAL,
    NUMERIC,
    VECTOR,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    ReferenceProfile,
)
from ._report import NO_DATA, STATUSES, FeatureDrift, Quality, Statistic
from ._window import CategoricalState, NumericState, State, Window


@dataclass(frozen=True)
class Options:
    tests: Collection[str]
    thresholds: Thresholds
    calibrated: bool
    correction: str
    decision: str
    large_sample: int
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
           previous: FeatureDrift | None = None) -> FeatureDrift:
    test = TEST_FOR_KIND[raw.kind]
    stat = raw.stats.get(test)
    p = None if stat is None else stat.adjusted_pvalue
    use_p = raw.kind == VECTOR or opts.decision == "pvalue" or (
        opts.decision == "auto" and effective_n(raw.n_ref, raw.n_cur) < opts.large_sample
    )
    if raw.n_cur == 0 or not raw.stats:
        status, level, alert, by = NO_DATA, 0, False, ""
    elif (use_p or "psi" not in raw.stats) and p is not None:
        level, alert = level_from_pvalue(p, t)
        status, by = STATUSES[level], test
    elif "psi" in raw.stats:
        level, alert = level_from_distance(raw.stats["psi"].value, t)
        status, by = STATUSES[level], "psi"
    else:
        status, level, alert, by = NO_DATA, 0, False, ""
    return FeatureDrift(
        name=raw.name, kind=raw.kind, status=status, level=level, alert=alert, decided_by=by,
        statistics=raw.stats, n_reference=raw.n_ref, n_current=raw.n_cur,
        thresholds=t.as_dict(), quality=raw.quality, importance=importance, previous=previous,
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
    for raw in raws:
        t = opts.thresholds
        cal = profile.calibration.get(raw.name)
        if opts.calibrated and cal is not None and raw.name in profile.features:
            t = t.calibrated(cal)
        prev = None if previous is None else previous.get(raw.name)
        out[raw.name] = decide(raw, t, opts, importances.get(raw.name), prev)
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
