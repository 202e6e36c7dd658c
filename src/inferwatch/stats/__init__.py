"""Drift statistics as pure functions on arrays, in the manner of ``scipy.stats``.

Every test takes ``(reference, current, **options)`` and returns a frozen
result with ``.statistic`` and ``.pvalue`` (None where a statistic has no
test). NaN and inf are dropped and counted in ``n_dropped``; input with
nothing left raises ``ValueError``. Binned statistics (PSI, Jensen-Shannon,
Hellinger) share one convention: bins frozen from the reference's quantiles
plus two overflow bins. ``*_from_counts`` and ``*_from_cdfs`` variants take
what the sketches in :mod:`inferwatch.sketches` hold, so drift can be computed
without keeping raw data. Categorical data goes to the ``*_categorical``
functions, :func:`chi_square` and :func:`g_test`. Runtime needs numpy only.
"""

from ._binning import bin_counts, quantile_edges
from ._classifier import ClassifierTestResult, auc, classifier_test
from ._contingency import (
    ContingencyResult,
    chi_square,
    chi_square_from_counts,
    g_test,
    g_test_from_counts,
)
from ._gamma import chi2_sf, gammaincc
from ._hellinger import HellingerResult, hellinger, hellinger_categorical, hellinger_from_counts
from ._jensen_shannon import (
    JensenShannonResult,
    jensen_shannon,
    jensen_shannon_categorical,
    jensen_shannon_from_counts,
)
from ._ks import KSResult, ks, ks_from_cdfs, ks_statistic_from_sorted
from ._ks_distribution import ks_pvalue
from ._mmd import MMDResult, mmd
from ._psi import PSIResult, psi, psi_categorical, psi_from_counts
from ._wasserstein import WassersteinResult, wasserstein, wasserstein_from_cdfs

__all__ = [
    "ClassifierTestResult",
    "ContingencyResult",
    "HellingerResult",
    "JensenShannonResult",
    "KSResult",
    "MMDResult",
    "PSIResult",
    "WassersteinResult",
    "auc",
    "bin_counts",
    "chi2_sf",
    "chi_square",
    "chi_square_from_counts",
    "classifier_test",
    "g_test",
    "g_test_from_counts",
    "gammaincc",
    "hellinger",
    "hellinger_categorical",
    "hellinger_from_counts",
    "jensen_shannon",
    "jensen_shannon_categorical",
    "jensen_shannon_from_counts",
    "ks",
    "ks_from_cdfs",
    "ks_pvalue",
    "ks_statistic_from_sorted",
    "mmd",
    "psi",
    "psi_categorical",
    "psi_from_counts",
    "quantile_edges",
    "wasserstein",
    "wasserstein_from_cdfs",
]
