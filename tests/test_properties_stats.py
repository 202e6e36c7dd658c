"""Property tests of ``inferwatch.stats``: hostile samples give a number in range or a clear error.

Samples hold NaN, ±inf, values near the float limit, subnormals, constants,
one value, mixed int/float/bool, numpy scalars; categorical samples hold
every hashable type with NaN of every float width. Each statistic must
either return a finite statistic in its documented range (p-values in
[0, 1]) with the non-finite values counted in ``n_dropped``, or raise
``ValueError``/``TypeError`` with a message: never another exception, never
a numpy warning (the suite turns warnings into errors), never NaN.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fuzz.hostile import hostile_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from inferwatch import stats

#: Examples per property (reported in the README's Reliability section).
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "300"))

_floats = st.one_of(
    st.floats(),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=5),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 1.7976931348623157e308, 5e-324, np.nan,
                     np.inf, -np.inf]),
)
_samples = st.one_of(
    hnp.arrays(np.float64, st.integers(0, 200), elements=_floats),
    st.lists(st.one_of(_floats, st.integers(-(2**53), 2**53), st.booleans()), max_size=60),
    st.builds(lambda v, n: [v] * n, _floats, st.integers(1, 300)),  # constant
    st.builds(lambda seed, n, loc: np.random.default_rng(seed).normal(loc, size=n),
              st.integers(0, 2**32 - 1), st.integers(1, 3000), st.sampled_from([0.0, 1e300])),
    hnp.arrays(np.float32, st.integers(0, 50)),
    hnp.arrays(np.int8, st.integers(0, 50)),
)

_RANGES: dict[str, tuple[float, float]] = {
    "psi": (0.0, math.inf), "ks": (0.0, 1.0), "jensen_shannon": (0.0, 1.0),
    "hellinger": (0.0, 1.0), "wasserstein": (0.0, math.inf),
}
NUMERIC: dict[str, Callable[..., Any]] = {
    "psi": stats.psi, "ks": stats.ks, "jensen_shannon": stats.jensen_shannon,
    "hellinger": stats.hellinger, "wasserstein": stats.wasserstein,
}


def _n_finite(values: Any) -> tuple[int, int]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    finite = int(np.isfinite(arr).sum())
    return finite, arr.size - finite


def _check_result(name: str, result: Any) -> None:
    lo, hi = _RANGES.get(name, (-math.inf, math.inf))
    assert isinstance(result.statistic, float)
    assert not math.isnan(result.statistic), f"{name} gave NaN"
    assert lo <= result.statistic <= hi or (name == "wasserstein" and result.statistic == math.inf)
    if result.pvalue is not None:
        assert 0.0 <= result.pvalue <= 1.0


@pytest.mark.parametrize("name", sorted(NUMERIC))
@hostile_settings(EXAMPLES)
@given(reference=_samples, current=_samples)
def test_numeric_statistics_on_hostile_samples(name: str, reference: Any, current: Any) -> None:
    fn = NUMERIC[name]
    ref_finite, ref_bad = _n_finite(reference)
    cur_finite, cur_bad = _n_finite(current)
    if ref_finite == 0 or cur_finite == 0:
        with pytest.raises(ValueError, match="no finite values"):
            fn(reference, current)
        return
    result = fn(reference, current)
    _check_result(name, result)
    assert result.n_dropped == ref_bad + cur_bad
    assert (result.n_ref, result.n_cur) == (ref_finite, cur_finite)
    same = fn(reference, reference)
    assert same.statistic == pytest.approx(0.0, abs=1e-12)  # no drift against itself
    if name == "ks":
        assert fn(current, reference).statistic == pytest.approx(result.statistic, abs=1e-12)


@hostile_settings(EXAMPLES)
@given(reference=_samples, current=_samples, bins=st.one_of(
    st.integers(1, 30), st.lists(_floats, min_size=1, max_size=6)))
def test_psi_bins_are_validated_or_used(reference: Any, current: Any, bins: Any) -> None:
    if _n_finite(reference)[0] == 0 or _n_finite(current)[0] == 0:
        return
    try:
        result = stats.psi(reference, current, bins=bins)
    except ValueError as exc:  # explicit edges that are not finite and increasing
        assert not isinstance(bins, int) and "edges" in str(exc)
        return
    _check_result("psi", result)
    assert result.contributions.size == result.edges.size + 1


_counts = hnp.arrays(np.int64, st.integers(1, 12), elements=st.integers(0, 10**12))


@pytest.mark.parametrize("fn", [stats.psi_from_counts, stats.jensen_shannon_from_counts,
                                stats.hellinger_from_counts, stats.chi_square_from_counts,
                                stats.g_test_from_counts], ids=lambda f: f.__name__)
@hostile_settings(EXAMPLES)
@given(ref=_counts, cur=_counts)
def test_from_counts_on_any_counts(fn: Callable[..., Any], ref: np.ndarray,
                                   cur: np.ndarray) -> None:
    if ref.size != cur.size or ref.sum() == 0 or cur.sum() == 0:
        with pytest.raises(ValueError):
            fn(ref, cur)
        return
    try:
        result = fn(ref, cur)
    except ValueError as exc:  # a contingency test with nothing left to compare
        assert "categor" in str(exc) or "degrees" in str(exc) or "pool" in str(exc)
        return
    _check_result(fn.__name__.removesuffix("_from_counts"), result)


_categories = st.one_of(
    st.text(st.characters(codec=None), max_size=4), st.integers(-3, 3), st.booleans(),
    st.none(), st.floats(), st.sampled_from([np.float32("nan"), np.float16("nan"),
                                             np.int64(1), np.str_("a"), b"\xff", (1, "a")]),
)


@pytest.mark.parametrize("fn", [stats.psi_categorical, stats.jensen_shannon_categorical,
                                stats.hellinger_categorical, stats.chi_square, stats.g_test],
                         ids=lambda f: f.__name__)
@hostile_settings(EXAMPLES)
@given(reference=st.lists(_categories, max_size=80), current=st.lists(_categories, max_size=80))
def test_categorical_statistics_on_any_categories(fn: Callable[..., Any], reference: list[Any],
                                                  current: list[Any]) -> None:
    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, (float, np.floating)) and v != v)

    ref_kept = [v for v in reference if not missing(v)]
    cur_kept = [v for v in current if not missing(v)]
    if not ref_kept or not cur_kept:
        with pytest.raises(ValueError, match="no categories"):
            fn(reference, current)
        return
    try:
        result = fn(reference, current)
    except ValueError as exc:  # chi-square with one category left after pooling
        assert fn in (stats.chi_square, stats.g_test) and str(exc)
        return
    name = fn.__name__.removesuffix("_categorical")
    _check_result(name, result)
    assert result.n_dropped == len(reference) + len(current) - len(ref_kept) - len(cur_kept)
    if getattr(result, "categories", None) is not None:
        assert not any(missing(c) for c in result.categories)


_rows = st.one_of(
    hnp.arrays(np.float64, st.tuples(st.integers(0, 40), st.integers(1, 3)), elements=_floats),
    st.builds(lambda seed, n, d, loc: np.random.default_rng(seed).normal(loc, size=(n, d)),
              st.integers(0, 2**32 - 1), st.integers(2, 60), st.integers(1, 3),
              st.sampled_from([0.0, 1e200, 1e300])),
)


@pytest.mark.parametrize("fn", [stats.mmd, stats.classifier_test], ids=lambda f: f.__name__)
@hostile_settings(EXAMPLES // 3)
@given(reference=_rows, current=_rows)
def test_multivariate_statistics_on_hostile_rows(fn: Callable[..., Any], reference: np.ndarray,
                                                 current: np.ndarray) -> None:
    options = {"n_permutations": 20} if fn is stats.mmd else {"folds": 2}
    try:
        result = fn(reference, current, **options)
    except ValueError as exc:
        assert str(exc)  # too few rows, no finite rows, or widths that differ
        return
    _check_result(fn.__name__, result)


@pytest.mark.parametrize("name", sorted(NUMERIC))
@pytest.mark.parametrize("bad", [["a", "b"], [1j, 2j], np.array([1j, 2j]), [[1.0], [2.0, 3.0]],
                                 [object()], np.array(["x"], dtype=object)])
def test_non_numbers_are_refused_clearly(name: str, bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"numeric|1-D|real"):
        NUMERIC[name](bad, [1.0, 2.0])


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_ints_past_the_float_range_are_dropped_as_infinite(name: str) -> None:
    result = NUMERIC[name]([10**400, 1.0, 2.0, 3.0], [1.0, 2.0, -(10**400)])
    assert result.n_dropped == 2


@hostile_settings(EXAMPLES // 3)
@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(2, 80), m=st.integers(2, 80),
    shift=st.floats(-2, 2), exponent=st.sampled_from([-1000, -600, 600, 1000]),
)
def test_statistics_are_scale_free_up_to_the_float_limits(seed: int, n: int, m: int,
                                                         shift: float, exponent: int) -> None:
    """Scaling both samples by 2**k changes no statistic (and no distance but by 2**k),
    even where squares of the scaled values overflow or underflow."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=n), rng.normal(shift, size=m)
    sx, sy = np.ldexp(x, exponent), np.ldexp(y, exponent)
    for name in ("psi", "ks", "jensen_shannon", "hellinger"):
        assert NUMERIC[name](sx, sy).statistic == pytest.approx(
            NUMERIC[name](x, y).statistic, rel=1e-9, abs=1e-12)
    w, sw = stats.wasserstein(x, y), stats.wasserstein(sx, sy)
    assert sw.statistic == pytest.approx(w.statistic, rel=1e-9)
    assert sw.distance == pytest.approx(math.ldexp(w.distance, exponent), rel=1e-9)
    mx, my = x.reshape(-1, 1), y.reshape(-1, 1)
    smx, smy = sx.reshape(-1, 1), sy.reshape(-1, 1)
    assert stats.mmd(smx, smy, n_permutations=10).statistic == pytest.approx(
        stats.mmd(mx, my, n_permutations=10).statistic, rel=1e-6, abs=1e-12)
