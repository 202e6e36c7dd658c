"""The A/B statistics by simulation: error rates, power, CUPED, SRM, cost per observation.

Every simulated experiment is read after every batch (a "peek"), the way a
dashboard is watched:

1. False positives with no true difference: the always-valid test (mSPRT,
   ``inferwatch.experiments.mixture_pvalue``, the function ``Experiment``
   uses) against the naive fixed-horizon z-test read at the same peeks.
   The first must stay at or below alpha; the second does not.
2. Power and stopping time under true effects of 0.5, 1 and 2 mde: the share
   of experiments that reject by the horizon, and the median observations
   per arm at the first rejection, next to the fixed-horizon sample size; then
   the null alone on two shapes hard for the normal approximation (a lognormal
   revenue-like metric, a 1 % conversion rate).
3. CUPED's variance reduction for a few covariate correlations rho (theory: rho²).
4. Sample-ratio-mismatch detection rate for a few mismatch sizes (p < 0.001).
5. Cost: ``Experiment.observe()`` per call, ``readout()``, ``assign()``.

The simulation evaluates the test's formulas on cumulative sums of every
experiment at once (numpy); a consistency check runs a few experiments
through ``Experiment.observe``/``readout`` and compares the p-values.

Run: python benchmarks/bench_experiments.py [--sims 4000] [--seed 12] [--quick]
(about a minute on the 2-core machine at the defaults; --quick: a few seconds)
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

from inferwatch.experiments import (
    Assigner,
    Experiment,
    Moments,
    cuped,
    mixture_pvalue,
    norm_ppf,
    sample_size,
    srm_test,
)
from inferwatch.experiments._compare import DEFAULT_MIN_SAMPLES

ALPHA = 0.05
KEY = "bench-experiments-key-0123456789abcdef"
#: Standard deviation of a lognormal(0, 1.5): a revenue-like, heavily skewed metric.
LOGNORMAL_SD = math.sqrt((math.exp(1.5 ** 2) - 1) * math.exp(1.5 ** 2))


def peeks(y: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance of each row at every ``batch`` observations."""
    n = np.arange(batch, y.shape[1] + 1, batch, dtype=np.float64)
    s1 = np.cumsum(y, axis=1)[:, batch - 1::batch]
    s2 = np.cumsum(y * y, axis=1)[:, batch - 1::batch]
    mean = s1 / n
    var = (s2 - s1 * mean) / (n - 1)
    return mean, np.maximum(var, 0.0)


def first_rejection(draw: Callable[[np.random.Generator, int, float], np.ndarray],
                    rng: np.random.Generator, sims: int, batch: int, batches: int,
                    effect: float, tau2: float) -> tuple[np.ndarray, np.ndarray]:
    """Peek index (0-based) of the first rejection per experiment, -1 for none:
    (always-valid test, naive z-test)."""
    crit = norm_ppf(1 - ALPHA / 2)
    n = np.arange(1, batches + 1) * batch
    ready = n >= DEFAULT_MIN_SAMPLES
    seq_out, naive_out = [], []
    chunk = max(1, 2_000_000 // (batch * batches))  # ~16 MB a draw
    for start in range(0, sims, chunk):
        k = min(chunk, sims - start)
        mc, vc = peeks(draw(rng, k * batch * batches, 0.0).reshape(k, -1), batch)
        mt, vt = peeks(draw(rng, k * batch * batches, effect).reshape(k, -1), batch)
        delta = mt - mc
        var = (vc + vt) / n
        seq = (mixture_pvalue(delta, var, tau2) < ALPHA) & ready
        with np.errstate(divide="ignore", invalid="ignore"):
            naive = np.abs(delta) / np.sqrt(var) > crit
        for hits, out in ((seq, seq_out), (naive, naive_out)):
            idx = np.where(hits.any(axis=1), hits.argmax(axis=1), -1)
            out.append(idx)
    return np.concatenate(seq_out), np.concatenate(naive_out)


def normal(sd: float) -> Callable[[np.random.Generator, int, float], np.ndarray]:
    def draw(rng: np.random.Generator, size: int, effect: float) -> np.ndarray:
        return rng.normal(effect, sd, size)
    return draw


def lognormal(sigma: float) -> Callable[[np.random.Generator, int, float], np.ndarray]:
    def draw(rng: np.random.Generator, size: int, effect: float) -> np.ndarray:
        return rng.lognormal(0.0, sigma, size) + effect
    return draw


def bernoulli(p: float) -> Callable[[np.random.Generator, int, float], np.ndarray]:
    def draw(rng: np.random.Generator, size: int, effect: float) -> np.ndarray:
        return (rng.random(size) < p + effect).astype(np.float64)
    return draw


def se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / n)


def section_errors(rng: np.random.Generator, sims: int, quick: bool) -> None:
    print(f"\n1-2. Sequential test read at every peek (alpha {ALPHA}, {sims} experiments "
          f"per row, no decision below {DEFAULT_MIN_SAMPLES} per arm)")
    cases = [
        # name, draw, batch per arm, peeks, mde (absolute), baseline for sample size
        # Horizons about 4x the fixed-horizon sample size, peeked 64 / 120 times;
        # then two harder shapes for the normal approximation, under the null only.
        ("mean, sd 1", normal(1.0), 100, 64, 0.1, None, (0.0, 0.5, 1.0, 2.0)),
        ("conversion 10 %", bernoulli(0.10), 500, 120, 0.01, 0.10, (0.0, 0.5, 1.0, 2.0)),
        ("lognormal s=1.5", lognormal(1.5), 100, 64, 0.1 * LOGNORMAL_SD, None, (0.0,)),
        ("conversion 1 %", bernoulli(0.01), 500, 100, 0.002, 0.01, (0.0,)),
    ]
    if quick:
        cases = [(n, d, b, p // 4, m, base, e) for n, d, b, p, m, base, e in cases]
    header = (f"{'metric':<16} {'true effect':>11} {'horizon/arm':>11} {'fixed n/arm':>11} "
              f"{'mSPRT rejects':>14} {'naive rejects':>14} {'median stop/arm':>16} "
              f"{'÷ fixed n':>9}")
    print(header)
    print("-" * len(header))
    for name, draw, batch, batches, mde, baseline, effects in cases:
        fixed = (sample_size(mde, baseline=baseline) if baseline is not None
                 else sample_size(mde, sd=mde / 0.1))
        for mult in effects:
            effect = mult * mde
            seq, naive = first_rejection(draw, rng, sims, batch, batches, effect, mde * mde)
            rej_seq = float((seq >= 0).mean())
            rej_naive = float((naive >= 0).mean())
            stopped = seq[seq >= 0]
            stop = (float(np.median((stopped + 1) * batch)) if stopped.size and mult
                    else math.nan)
            median = "-" if math.isnan(stop) else f"{int(stop):,}"
            ratio = "-" if math.isnan(stop) else f"{stop / fixed.control:.2f}"
            label = "none" if mult == 0 else f"{mult:g} mde"
            print(f"{name:<16} {label:>11} {batch * batches:>11,} {fixed.control:>11,} "
                  f"{rej_seq:>8.3f}±{se(rej_seq, sims):.3f} "
                  f"{rej_naive:>8.3f}±{se(rej_naive, sims):.3f} {median:>16} "
                  f"{ratio:>9}")
    print("(rejects with no true effect = false-positive rate over all peeks; "
          "± one standard error;\n median stop: observations per arm at the first rejection, "
          "over the experiments that stopped; mixture tau = mde = 0.1 sd for the means,\n"
          f" lognormal sd = {LOGNORMAL_SD:.2f}; the fixed n is for the mde at 80 % power)")


def section_consistency(rng: np.random.Generator) -> None:
    """A few experiments through Experiment itself: its p-value equals the simulation's."""
    worst = 0.0
    for _ in range(10):
        c, t = rng.normal(0, 1, 1000), rng.normal(0.05, 1, 1000)
        exp = Experiment("bench", primary="y", mde=0.1, key=KEY)
        for a, b in zip(c, t, strict=True):
            exp.observe("control", float(a))
            exp.observe("treatment", float(b))
        p = exp.readout().pvalue
        mc, vc = peeks(c[None, :], 1000)
        mt, vt = peeks(t[None, :], 1000)
        q = float(mixture_pvalue(mt - mc, (vc + vt) / 1000, 0.01)[0, 0])
        worst = max(worst, abs(p - q))
    print(f"\nconsistency: Experiment.readout() p-value vs the simulation's formula, 10 "
          f"experiments of 2,000 observations: max |difference| = {worst:.2e}")


def section_cuped(rng: np.random.Generator, sims: int) -> None:
    n = 2000
    print(f"\n3. CUPED variance reduction ({sims} experiments per row, {n:,} per arm)")
    print(f"{'rho':>5} {'theory rho²':>12} {'measured (mean)':>16} {'sd of effect, raw':>18} "
          f"{'sd, CUPED':>10}")
    for rho in (0.0, 0.3, 0.5, 0.7, 0.9):
        reductions, raw_effects, adj_effects = [], [], []
        for _ in range(sims):
            arms = []
            for effect in (0.0, 0.1):
                x = rng.normal(0, 1, n)
                y = effect + rho * x + math.sqrt(1 - rho * rho) * rng.normal(0, 1, n)
                arms.append(Moments.of(y, x))
            result = cuped(arms[0], arms[1])
            assert result is not None
            reductions.append(result.reduction)
            raw_effects.append(arms[1].mean - arms[0].mean)
            adj_effects.append(result.delta)
        print(f"{rho:>5.1f} {rho * rho:>12.3f} {np.mean(reductions):>16.3f} "
              f"{np.std(raw_effects):>18.4f} {np.std(adj_effects):>10.4f}")


def section_srm(rng: np.random.Generator, sims: int) -> None:
    print(f"\n4. Sample-ratio mismatch flagged at p < 0.001 (configured 50/50, {sims} "
          "experiments per cell)")
    shifts = (0.0, 0.002, 0.005, 0.01, 0.02)
    totals = (10_000, 100_000)
    print(f"{'actual control share':>21} " + " ".join(f"{f'n={t:,}':>10}" for t in totals))
    for shift in shifts:
        cells = []
        for total in totals:
            control = rng.binomial(total, 0.5 + shift, sims)
            flagged = sum(srm_test([int(c), int(total - c)], [0.5, 0.5]).flagged
                          for c in control)
            cells.append(f"{flagged / sims:>10.3f}")
        print(f"{0.5 + shift:>21.3f} " + " ".join(cells))


def section_cost(rng: np.random.Generator, calls: int) -> None:
    print(f"\n5. Cost ({calls:,} calls each; median of 5 rounds, µs per call)")
    values = rng.normal(0, 1, calls).tolist()
    covs = rng.normal(0, 1, calls).tolist()

    def time_it(fn: Callable[[], None]) -> float:
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            fn()
            rounds.append(time.perf_counter() - start)
        return sorted(rounds)[2] / calls * 1e6

    def observe_plain() -> None:
        exp = Experiment("cost", primary="y", mde=0.1, key=KEY)
        obs = exp.observe
        for i, v in enumerate(values):
            obs("control" if i & 1 else "treatment", v)

    def observe_full() -> None:
        from inferwatch.experiments import Guardrail

        exp = Experiment("cost", primary="y", guardrails=[Guardrail("latency_ms", margin=5.0)],
                         mde=0.1, key=KEY)
        obs = exp.observe
        segs = ("web", "ios", "android")
        for i, v in enumerate(values):
            obs("control" if i & 1 else "treatment", {"y": v, "latency_ms": 40.0 + v},
                covariate=covs[i], segment=segs[i % 3], exposure_day=i % 14, unit_id=i)

    assigner = Assigner("cost", key=KEY)

    def assign_all() -> None:
        for i in range(calls):
            assigner(i)

    print(f"  observe(variant, value)                                    "
          f"{time_it(observe_plain):6.2f}")
    print(f"  observe(+guardrail, covariate, segment, day, unit_id check)  "
          f"{time_it(observe_full):6.2f}")
    print(f"  Assigner(...)(unit_id)  (one HMAC-SHA256)                   "
          f"{time_it(assign_all):6.2f}")
    exp = Experiment("cost", primary="y", mde=0.1, key=KEY)
    for i, v in enumerate(values[:20000]):
        exp.observe("control" if i & 1 else "treatment", v, covariate=covs[i],
                    segment=str(i % 8), exposure_day=i % 30)
    start = time.perf_counter()
    for _ in range(50):
        exp.readout()
    print(f"  readout() with 8 segments and 30 days                      "
          f"{(time.perf_counter() - start) / 50 * 1e6:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=4000, help="experiments per row of 1-2")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="a fast, rough run")
    args = parser.parse_args()
    sims = 200 if args.quick else args.sims
    print(f"bench_experiments: seed {args.seed}, {sims} simulated experiments per row "
          f"(CUPED {max(50, sims // 10)}, SRM {sims // 2})")
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    section_errors(rng, sims, args.quick)
    section_consistency(rng)
    section_cuped(rng, max(50, sims // 10))
    section_srm(rng, max(100, sims // 2))
    section_cost(rng, 20_000 if args.quick else 100_000)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
