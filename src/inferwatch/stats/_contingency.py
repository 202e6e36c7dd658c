"""Chi-square and G tests of category counts, with rare categories pooled.

Both compare the 2 x K table (reference row, current row) against
independence. The chi-square approximation to their null distribution needs
expected counts of about 5 or more per cell, so categories too rare to reach
``min_expected`` are pooled into one "other" column first, smallest first,
until every column (the pooled one included) is large enough.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._categorical import category_counts
from ._gamma import chi2_sf
from ._validation import FloatArray, check_same_length, clean_counts

OTHER = "<other>"


@dataclass(frozen=True, eq=False)
class ContingencyResult:
    """Test statistic, p-value and the table it was computed on (after pooling).

    ``categories`` labels the table's columns (pooled ones as ``"<other>"``)
    when the test ran on raw categories; ``dof`` is 0 (and p-value 1) when
    fewer than two columns survive pooling, i.e. there is nothing to test.
    """

    statistic: float
    pvalue: float
    dof: int
    table: FloatArray
    n_pooled: int
    n_ref: int
    n_cur: int
    n_dropped: int = 0
    categories: tuple[Hashable, ...] | None = None


def _pool(
    ref: FloatArray, cur: FloatArray, min_expected: float
) -> tuple[FloatArray, list[int], bool]:
    """Order of kept columns and the pooled table; pooled column last if any."""
    total = ref.sum() + cur.sum()
    smaller_row = min(ref.sum(), cur.sum())
    col = ref + cur
    # The smallest expected count of a column is smaller_row * col / total.
    threshold = min_expected * total / smaller_row
    order = np.argsort(col, kind="stable")
    pooled_upto = int(np.searchsorted(col[order], threshold, side="left"))
    if pooled_upto == 1 and col.size > 1:
        pooled_upto = 2  # a single rare column cannot be pooled on its own
    while 0 < pooled_upto < col.size and col[order[:pooled_upto]].sum() < threshold:
        pooled_upto += 1
    pooled = order[:pooled_upto]
    kept = sorted(int(i) for i in order[pooled_upto:])
    columns = [np.array([ref[i], cur[i]]) for i in kept]
    has_other = pooled.size > 0
    if has_other:
        columns.append(np.array([ref[pooled].sum(), cur[pooled].sum()]))
    return np.column_stack(columns), kept, has_other


def _test(
    ref: FloatArray, cur: FloatArray, min_expected: float, kind: str
) -> tuple[float, float, int, FloatArray, list[int], int]:
    if min_expected < 0:
        raise ValueError(f"min_expected must be >= 0, got {min_expected}")
    nonzero = (ref + cur) > 0
    table, kept, _ = _pool(ref[nonzero], cur[nonzero], min_expected)
    index = np.flatnonzero(nonzero)
    kept = [int(index[i]) for i in kept]
    n_pooled = int(nonzero.sum()) - len(kept)
    dof = table.shape[1] - 1
    if dof < 1:
        return 0.0, 1.0, 0, table, kept, n_pooled
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if kind == "chi2":
        statistic = float(np.sum((table - expected) ** 2 / expected))
    else:
        mask = table > 0
        statistic = float(2.0 * np.sum(table[mask] * np.log(table[mask] / expected[mask])))
    statistic = max(statistic, 0.0)
    return statistic, chi2_sf(statistic, dof), dof, table, kept, n_pooled


def _from_counts(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, min_expected: float, kind: str
) -> ContingencyResult:
    ref = clean_counts(ref_counts, "ref_counts")
    cur = clean_counts(cur_counts, "cur_counts")
    check_same_length(ref, cur, "ref_counts and cur_counts")
    stat, p, dof, table, _, n_pooled = _test(ref, cur, min_expected, kind)
    return ContingencyResult(stat, p, dof, table, n_pooled, int(ref.sum()), int(cur.sum()))


def _from_samples(
    reference: Iterable[Hashable], current: Iterable[Hashable], min_expected: float, kind: str
) -> ContingencyResult:
    cats, ref, cur, dropped = category_counts(reference, current)
    stat, p, dof, table, kept, n_pooled = _test(ref, cur, min_expected, kind)
    labels: list[Hashable] = [cats[i] for i in kept]
    if n_pooled:
        labels.append(OTHER)
    return ContingencyResult(
        stat, p, dof, table, n_pooled, int(ref.sum()), int(cur.sum()), dropped, tuple(labels)
    )


def chi_square(
    reference: Iterable[Hashable], current: Iterable[Hashable], *, min_expected: float = 5.0
) -> ContingencyResult:
    """Pearson chi-square test that two categorical samples share one distribution.

    Equals ``scipy.stats.chi2_contingency(table, correction=False)`` on the
    pooled table (see the module docstring for the pooling). None and NaN are
    dropped and counted.
    """
    return _from_samples(reference, current, min_expected, "chi2")


def g_test(
    reference: Iterable[Hashable], current: Iterable[Hashable], *, min_expected: float = 5.0
) -> ContingencyResult:
    """Likelihood-ratio (G) test; same pooling and null as :func:`chi_square`.

    Better behaved than Pearson's when some cells are small; equals
    ``chi2_contingency(..., lambda_="log-likelihood")`` on the pooled table.
    """
    return _from_samples(reference, current, min_expected, "g")


def chi_square_from_counts(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, *, min_expected: float = 5.0
) -> ContingencyResult:
    """:func:`chi_square` from aligned category counts (e.g. top-K sketch counts)."""
    return _from_counts(ref_counts, cur_counts, min_expected, "chi2")


def g_test_from_counts(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, *, min_expected: float = 5.0
) -> ContingencyResult:
    """:func:`g_test` from aligned category counts."""
    return _from_counts(ref_counts, cur_counts, min_expected, "g")
