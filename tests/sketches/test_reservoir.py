import numpy as np
import pytest

from inferwatch.sketches import Reservoir


def test_fills_then_stays_bounded() -> None:
    r = Reservoir(capacity=100, seed=0)
    r.update_batch(np.arange(50.0))
    assert r.rows.shape == (50, 1)
    r.update_batch(np.arange(50.0, 10_000.0))
    r.update([1.0])
    assert r.rows.shape == (100, 1) and r.n == 10_001 and r.nbytes == 800
    r.update_batch([[np.nan]])
    assert r.n_dropped == 1
    with pytest.raises(ValueError, match="features"):
        r.update_batch(np.zeros((2, 3)))


def _inclusion_counts(n: int, cap: int, seeds: int, merge: bool) -> np.ndarray:
    hits = np.zeros(n)
    for seed in range(seeds):
        data = np.arange(float(n)).reshape(-1, 1)
        if merge:
            a = Reservoir(cap, seed=seed)
            b = Reservoir(cap, seed=seed + 10_000)
            a.update_batch(data[: n // 3])
            b.update_batch(data[n // 3 :])
            r = a.merge(b)
        else:
            r = Reservoir(cap, seed=seed)
            for i in range(0, n, 37):
                r.update_batch(data[i : i + 37])
        hits[r.rows[:, 0].astype(int)] += 1
    return hits


@pytest.mark.parametrize("merge", [False, True])
def test_inclusion_is_uniform(merge: bool) -> None:
    from scipy import stats as sp

    n, cap, seeds = 600, 30, 400
    hits = _inclusion_counts(n, cap, seeds, merge)
    assert hits.sum() == cap * seeds
    # 20 groups of 30 consecutive rows: each should be included equally often.
    groups = hits.reshape(20, -1).sum(axis=1)
    p = sp.chisquare(groups).pvalue
    assert p > 1e-3


def test_merge_config_and_round_trip() -> None:
    a = Reservoir(10, n_features=2, seed=1)
    a.update_batch(np.ones((5, 2)))
    b = Reservoir(10, n_features=2, seed=2)
    b.update_batch(np.zeros((3, 2)))
    a.merge(b)
    assert a.rows.shape == (8, 2) and a.n == 8
    back = Reservoir.from_bytes(a.to_bytes())
    assert np.array_equal(back.rows, a.rows)
    with pytest.raises(ValueError, match="capacity 10 and 5"):
        a.merge(Reservoir(5))
    with pytest.raises(ValueError, match="capacity"):
        Reservoir(0)
