"""Label-free estimates (CBPE, DLE) against a known data-generating process, and their cost.

1. The simulation table: for each estimator, the share of windows whose
   realised measure lands in the estimate's band under covariate shift only
   (P(y | x) fixed, P(x) moved by a random shift per window: the coverage,
   which should be near the band's level, 0.95, and at least 0.90), and the
   share flagged (realised outside the band) under concept drift (P(y | x)
   changed: the detection rate), per measure.
2. The CPU cost of one window's estimate (process time per call, median of
   rounds) for 1,000 and 10,000 rows, with the default 400 draws, beside
   the cost of the realised measures on the same rows (a baseline measured in
   the same run).

The processes (the same as ``tests/estimate/estimate_sim.py``): binary,
score ``s = sigmoid(1.5 x0 - x1)``, label ``~ sigmoid(1.3 logit(s) + 0.4)``,
concept drift flips x1's sign in the label; multiclass, three classes,
over-confident softmax, concept drift permutes the true classes; regression,
error spread ``0.3 + 0.25 |prediction|``, concept drift adds ``0.8 x1``.
Reference 10,000 labelled rows; windows of ``--rows`` rows, shifts uniform in
[-1, 1] (one standard deviation) per feature.

Run: python benchmarks/bench_estimate.py [--seeds 5] [--windows 100] [--rows 1000] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from inferwatch.estimate import CBPE, DLE, Calibrator, LossModel
from inferwatch.labels import _classification as cls


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def binary(rng: np.random.Generator, n: int, shift: Any = 0.0,
           concept: bool = False) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 2)) + shift
    logit = 1.5 * x[:, 0] - x[:, 1]
    p = _sigmoid(1.3 * (1.5 * x[:, 0] + x[:, 1]) + 0.4) if concept else _sigmoid(
        1.3 * logit + 0.4)
    return _sigmoid(logit), rng.random(n) < p


_W = np.array([[1.5, 0.0], [-0.8, 1.3], [-0.7, -1.3]])


def multiclass(rng: np.random.Generator, n: int, shift: Any = 0.0,
               concept: bool = False) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 2)) + shift
    z = x @ _W.T
    true = np.exp(z - z.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    if concept:
        true = true[:, [1, 2, 0]]
    model = np.exp(1.6 * (z - z.max(axis=1, keepdims=True)))
    model /= model.sum(axis=1, keepdims=True)
    label = np.minimum((rng.random((n, 1)) > np.cumsum(true, axis=1)).sum(axis=1), 2)
    return model.max(axis=1), model.argmax(axis=1) == label


def regression(rng: np.random.Generator, n: int, shift: float = 0.0,
               concept: bool = False) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 2)) + np.array([shift, 0.0])
    pred = 2 * x[:, 0] + 0.8 * np.sin(x[:, 1])
    truth = 2 * x[:, 0] + np.sin(x[:, 1]) + rng.normal(size=n) * (0.3 + 0.25 * np.abs(pred))
    if concept:
        truth = truth + 0.8 * x[:, 1]
    return pred, truth


def _binary_realised(s: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    d = s >= 0.5
    tp, fp, fn, _ = cls.binary_counts(y, d)
    return {"accuracy": cls.accuracy(y, d), "precision": cls.precision(tp, fp),
            "recall": cls.recall(tp, fn), "f1": cls.f1(tp, fp, fn),
            "roc_auc": cls.roc_auc(y, s)}


def _tally(table: dict[str, list[bool]], est: Any, real: dict[str, float | None],
           inside: bool) -> None:
    for name, band in est.measures.items():
        value = real.get(name)
        if value is not None:
            table.setdefault(name, []).append(band.contains(value) == inside)


def simulate(seeds: int, windows: int, rows: int) -> list[tuple[str, str, float, float, int]]:
    out = []
    for label in ("CBPE isotonic", "CBPE histogram", "CBPE top-label", "DLE"):
        cover: dict[str, list[bool]] = {}
        detect: dict[str, list[bool]] = {}
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            if label == "DLE":
                pred, truth = regression(rng, 10_000)
                dle = DLE(LossModel.fit(pred, truth))
                for concept, table in ((False, cover), (True, detect)):
                    for _ in range(windows):
                        pred, truth = regression(rng, rows, float(rng.uniform(-1, 1)), concept)
                        err = truth - pred
                        real = {"mae": float(np.mean(np.abs(err))),
                                "rmse": float(np.sqrt(np.mean(err ** 2)))}
                        _tally(table, dle.estimate(pred), real, inside=not concept)
            elif label == "CBPE top-label":
                conf, right = multiclass(rng, 10_000)
                cbpe = CBPE(Calibrator.fit(conf, right, target="top_label"))
                for concept, table in ((False, cover), (True, detect)):
                    for _ in range(windows):
                        conf, right = multiclass(rng, rows, rng.uniform(-1, 1, 2), concept)
                        _tally(table, cbpe.estimate(conf), {"accuracy": float(right.mean())},
                               inside=not concept)
            else:
                s, y = binary(rng, 10_000)
                method = label.split()[1]
                cbpe = CBPE(Calibrator.fit(s, y, method=method, bins=20))
                for concept, table in ((False, cover), (True, detect)):
                    for _ in range(windows):
                        s, y = binary(rng, rows, rng.uniform(-1, 1, 2), concept)
                        _tally(table, cbpe.estimate(s), _binary_realised(s, y),
                               inside=not concept)
        for name in cover:
            out.append((label, name, float(np.mean(cover[name])),
                        float(np.mean(detect.get(name, [False]))), len(cover[name])))
    return out


def _cpu(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def costs(rounds: int) -> list[tuple[str, int, float, float]]:
    rng = np.random.default_rng(0)
    s, y = binary(rng, 10_000)
    cbpe = CBPE(Calibrator.fit(s, y))
    conf, right = multiclass(rng, 10_000)
    top = CBPE(Calibrator.fit(conf, right, target="top_label"))
    pred, truth = regression(rng, 10_000)
    dle = DLE(LossModel.fit(pred, truth))
    out = []
    for n in (1_000, 10_000):
        s, y = binary(rng, n)
        conf, _ = multiclass(rng, n)
        pred, truth = regression(rng, n)
        out.append(("CBPE binary (5 measures)", n,
                    _cpu(lambda s=s: cbpe.estimate(s), rounds),
                    _cpu(lambda s=s, y=y: _binary_realised(s, y), rounds)))
        out.append(("CBPE top-label (accuracy)", n,
                    _cpu(lambda c=conf: top.estimate(c), rounds),
                    _cpu(lambda c=conf: float(np.mean(c > 0.5)), rounds)))
        out.append(("DLE (MAE, RMSE)", n, _cpu(lambda p=pred: dle.estimate(p), rounds),
                    _cpu(lambda p=pred, t=truth: float(np.mean(np.abs(t - p))), rounds)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="2 seeds x 30 windows, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.windows, args.rounds = 2, 30, 3
    print(f"simulation: {args.seeds} seeds x {args.windows} windows of {args.rows} rows per "
          "condition, band level 0.95, 400 draws")
    print(f"{'estimator':<16} {'measure':<10} {'coverage (covariate shift)':>27} "
          f"{'flagged (concept drift)':>24} {'windows':>8}")
    for label, name, cover, detect, n in simulate(args.seeds, args.windows, args.rows):
        print(f"{label:<16} {name:<10} {cover:>27.3f} {detect:>24.3f} {n:>8}")
    print("\nCPU per window's estimate (process time, median of rounds; baseline: the "
          "realised measures on the same rows)")
    print(f"{'estimator':<28} {'rows':>7} {'estimate ms':>12} {'realised ms':>12}")
    for label, n, est, base in costs(args.rounds):
        print(f"{label:<28} {n:>7} {est * 1e3:>12.2f} {base * 1e3:>12.3f}")


if __name__ == "__main__":
    main()
