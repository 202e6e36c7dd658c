import numpy as np
import pytest

from inferwatch import stats
from inferwatch.sketches import BinnedCounts, TopKCounts

RNG = np.random.default_rng(3)


def test_edges_equal_stats_psi_and_psi_is_exact() -> None:
    ref, cur = RNG.normal(size=20_000), RNG.normal(0.3, size=20_000)
    ref_counts = BinnedCounts.from_reference(ref)
    exact = stats.psi(ref, cur)
    assert exact.edges is not None and np.array_equal(ref_counts.edges, exact.edges)
    ref_counts.update_batch(ref)
    cur_counts = BinnedCounts(ref_counts.edges)
    for i in range(0, cur.size, 999):
        cur_counts.update_batch(cur[i : i + 999])
    assert cur_counts.psi_against(ref_counts).statistic == pytest.approx(exact.statistic)


def test_merge_is_exact_and_update_matches_batch() -> None:
    x = RNG.normal(size=3000)
    a, b, whole = (BinnedCounts([-1.0, 0.0, 1.0]) for _ in range(3))
    a.update_batch(x[:1000])
    for v in x[1000:]:
        b.update(v)
    b.update(float("nan"))
    b.update_batch([np.inf])
    whole.update_batch(x)
    a.merge(b)
    assert np.array_equal(a.counts, whole.counts) and a.n == 3000
    assert a.n_nan == 1 and a.n_inf == 1
    with pytest.raises(ValueError, match="different edges"):
        a.merge(BinnedCounts([0.0, 1.0]))
    with pytest.raises(ValueError, match="strictly increasing"):
        BinnedCounts([1.0, 0.0])


def test_topk_exact_under_capacity_and_merge() -> None:
    cats = RNG.choice(["a", "b", "c", "d"], size=1000, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    a, b = TopKCounts(k=8), TopKCounts(k=8)
    a.update_batch(cats[:600])
    for c in cats[600:]:
        b.update(c)
    b.update(None)
    a.merge(b)
    assert a.counts == {c: cats.count(c) for c in "abcd"}
    assert a.other == 0 and a.error_bound == 0 and a.n_missing == 1
    assert sum(a.shares().values()) == pytest.approx(1.0)
    assert a.new_categories(["a", "b", "c"]) == {"d"}
    with pytest.raises(ValueError, match="k=8 and k=4"):
        a.merge(TopKCounts(k=4))


def test_topk_bounded_with_error_guarantee() -> None:
    zipf = RNG.zipf(1.5, size=50_000)
    s = TopKCounts(k=32)
    for i in range(0, zipf.size, 5000):
        s.update_batch(zipf[i : i + 5000])
    assert len(s.counts) <= 32
    true = {int(v): int(c) for v, c in zip(*np.unique(zipf, return_counts=True), strict=True)}
    for cat, est in s.counts.items():
        assert true[int(cat)] - s.error_bound <= est <= true[int(cat)]  # type: ignore[call-overload]
    heavy = [c for c, v in true.items() if v > s.total / 33]
    assert set(heavy) <= set(s.counts)
    assert s.other_share > 0


def test_topk_unserialisable_key() -> None:
    s = TopKCounts()
    s.update(("a", 1))
    with pytest.raises(TypeError, match="cannot be serialised"):
        s.to_bytes()
