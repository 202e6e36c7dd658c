"""Sketch accuracy and cost: exact vs sketch PSI / KS / Wasserstein, update cost, sizes.

Run: ``python benchmarks/bench_sketch_accuracy.py`` (about 10-20 s). Prints,
for shifts of 0, 0.1, 0.25 and 0.5 reference standard deviations at 100k
values per side, the exact statistic, the one from sketches and the error;
then KLL batch update cost in ns/value and each sketch's serialised size.
"""

from __future__ import annotations

import time

import numpy as np

from inferwatch import stats
from inferwatch.sketches import DEFAULT_K, BinnedCounts, KLLSketch, Reservoir, TopKCounts

N = 100_000
BATCH = 1000


def _kll(x: np.ndarray, seed: int) -> KLLSketch:
    s = KLLSketch(seed=seed)
    for i in range(0, x.size, BATCH):
        s.update_batch(x[i : i + BATCH])
    return s


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{N:,} values per side, KLL k={DEFAULT_K}, batches of {BATCH}")
    header = (
        "shift  PSI exact  PSI bins  PSI kll   err     KS exact  KS kll   err     "
        "W exact  W kll    err"
    )
    print(header)
    for shift in (0.0, 0.1, 0.25, 0.5):
        ref, cur = rng.normal(size=N), rng.normal(shift, size=N)
        sa, sb = _kll(ref, 1), _kll(cur, 2)
        psi_exact = stats.psi(ref, cur).statistic
        ref_bins = BinnedCounts.from_reference(ref)
        ref_bins.update_batch(ref)
        cur_bins = BinnedCounts(ref_bins.edges)
        cur_bins.update_batch(cur)
        psi_bins = cur_bins.psi_against(ref_bins).statistic
        edges = sa.quantile(np.linspace(0.0, 1.0, 11))
        psi_kll = stats.psi_from_counts(sa.bin_counts(edges), sb.bin_counts(edges)).statistic
        ks_exact = stats.ks(ref, cur).statistic
        ks_kll = stats.ks_from_cdfs(*sa.sorted_view(), *sb.sorted_view()).statistic
        w_exact = stats.wasserstein(ref, cur).statistic
        w_kll = stats.wasserstein_from_cdfs(*sa.sorted_view(), *sb.sorted_view()).statistic
        print(
            f"{shift:<5}  {psi_exact:9.5f}  {psi_bins:8.5f}  {psi_kll:8.5f} "
            f"{psi_kll - psi_exact:+.4f}  {ks_exact:8.5f}  {ks_kll:7.5f} {ks_kll - ks_exact:+.4f}  "
            f"{w_exact:7.4f}  {w_kll:7.4f} {w_kll - w_exact:+.4f}"
        )

    x = rng.normal(size=1_000_000)
    for batch in (1000, 10_000):
        s = KLLSketch()
        start = time.perf_counter()
        for i in range(0, x.size, batch):
            s.update_batch(x[i : i + batch])
        ns = (time.perf_counter() - start) / x.size * 1e9
        print(f"KLL update_batch, batches of {batch}: {ns:.1f} ns/value")
    s = KLLSketch()
    start = time.perf_counter()
    for v in x[:100_000].tolist():
        s.update(v)
    print(f"KLL update (one value): {(time.perf_counter() - start) / 1e5 * 1e9:.0f} ns/value")

    kll = _kll(x, 0)
    bins = BinnedCounts.from_reference(x)
    bins.update_batch(x)
    topk = TopKCounts()
    topk.update_batch(rng.zipf(1.5, size=100_000))
    res = Reservoir(capacity=1024, n_features=20)
    res.update_batch(rng.normal(size=(100_000, 20)))
    print("serialised size after 1M values (100k for TopK, 100k x 20 rows for Reservoir):")
    size = len(kll.to_bytes())
    print(f"  KLLSketch(k={DEFAULT_K})      {size:>8,} bytes  (nbytes {kll.nbytes:,})")
    print(f"  BinnedCounts(deciles) {len(bins.to_bytes()):>8,} bytes")
    print(f"  TopKCounts(k=64)      {len(topk.to_bytes()):>8,} bytes")
    print(f"  Reservoir(1024 x 20)  {len(res.to_bytes()):>8,} bytes (multivariate, all features)")


if __name__ == "__main__":
    main()
