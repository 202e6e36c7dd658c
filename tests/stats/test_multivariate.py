import numpy as np
import pytest
from scipy import stats as sp

from inferwatch.stats import auc, classifier_test, mmd


def _brute_mmd2(x: np.ndarray, y: np.ndarray, bw: float) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * bw * bw))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )


def test_mmd_statistic_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(0.5, size=(30, 3))
    res = mmd(x, y, n_permutations=0, bandwidth=1.3)
    assert res.statistic == pytest.approx(_brute_mmd2(x, y, 1.3))
    assert res.pvalue is None


def test_mmd_median_heuristic() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    z = np.vstack([x, y])
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))[np.triu_indices(50, 1)]
    assert mmd(x, y, n_permutations=0).bandwidth == pytest.approx(np.median(d))


def test_mmd_detects_shift_and_not_noise() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 5))
    shifted = mmd(x, rng.normal(0.4, size=(300, 5)), n_permutations=100)
    same = mmd(x, rng.normal(size=(300, 5)), n_permutations=100)
    assert shifted.pvalue is not None and shifted.pvalue < 0.02
    assert same.pvalue is not None and same.pvalue > 0.05
    assert 1 / 101 <= shifted.pvalue <= 1.0


def test_mmd_is_deterministic_and_accepts_1d() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=2500), rng.normal(size=2500)
    a = mmd(x, y, max_samples=200, n_permutations=20)
    b = mmd(x, y, max_samples=200, n_permutations=20)
    assert a.statistic == b.statistic and a.pvalue == b.pvalue and a.n_ref == 200


def test_mmd_bad_input() -> None:
    with pytest.raises(ValueError, match="features"):
        mmd(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        mmd(np.zeros((2, 2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        mmd(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="no finite rows"):
        mmd(np.full((3, 2), np.nan), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(np.zeros((3, 2)), np.ones((5, 2)), bandwidth=0.0)
    res = mmd(np.r_[np.zeros((3, 2)), [[np.nan, 1.0]]], np.ones((5, 2)), n_permutations=0)
    assert res.n_dropped == 1


def test_auc_matches_mann_whitney() -> None:
    rng = np.random.default_rng(4)
    s = np.round(rng.normal(size=200), 1)
    lab = rng.integers(0, 2, size=200)
    u = sp.mannwhitneyu(s[lab == 1], s[lab == 0]).statistic
    assert auc(s, lab) == pytest.approx(u / (lab.sum() * (200 - lab.sum())))
    with pytest.raises(ValueError, match="both classes"):
        auc([1.0, 2.0], [1, 1])


def test_classifier_detects_mean_and_spread_changes() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 4))
    mean_shift = classifier_test(x, rng.normal(0.5, 1.0, size=(400, 4)))
    spread = classifier_test(x, rng.normal(0.0, 2.0, size=(400, 4)))
    same = classifier_test(x, rng.normal(size=(400, 4)))
    assert mean_shift.statistic > 0.7 and mean_shift.pvalue < 1e-6
    assert spread.statistic > 0.7 and spread.pvalue < 1e-6
    assert 0.4 < same.statistic < 0.6 and same.pvalue > 0.01


def test_classifier_bad_input() -> None:
    with pytest.raises(ValueError, match="features"):
        classifier_test(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="rows per side"):
        classifier_test(np.zeros((3, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="folds"):
        classifier_test(np.zeros((10, 2)), np.zeros((10, 2)), folds=1)
