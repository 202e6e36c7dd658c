import inferwatch.stats as stats

EXPECTED = {
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
}


def test_exported_names_are_exactly_the_intended_ones() -> None:
    assert set(stats.__all__) == EXPECTED
    assert stats.__all__ == sorted(stats.__all__)
    for name in stats.__all__:
        assert getattr(stats, name).__doc__
