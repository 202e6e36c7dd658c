"""Cost of the sampling hash, which the request path computes for every call with features.

Prints ns per call for records carrying a trace id, a caller's inference id,
or neither, for the keyed hash (a sampling key configured), the keyless one,
and the unkeyed BLAKE2b of the inference id used before keys (written out
here as the baseline), interleaved in one run, with the ratios to it.

    python benchmarks/bench_sampling.py
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from inferwatch._record import Endpoint, InferenceRecord
from inferwatch._sampling import make_sampling_hash

N = 200_000
ROUNDS = 7
MASK64 = (1 << 64) - 1


def unkeyed_before(record: InferenceRecord) -> int:
    """The hash as it was before sampling was keyed (the baseline)."""
    if record.trace_id:
        return record.trace_id & MASK64
    if record.inference_id is not None:
        digest = hashlib.blake2b(record.inference_id.encode("utf-8", "replace"), digest_size=8)
        return int.from_bytes(digest.digest(), "big")
    return record.random_id() & MASK64


def records(kind: str) -> list[InferenceRecord]:
    endpoint = Endpoint("predict", "m", "1")
    out = []
    for i in range(1000):
        trace_id = (0x4BF92F3577B34DA6A3CE929D0E0E4736 + i) if kind == "trace id" else 0
        inference_id = f"3f2b8c9e-1d4a-4b6f-9e2a-{i:012x}" if kind == "inference id" else None
        out.append(InferenceRecord(endpoint, 0, 0, 0, inference_id, trace_id, 0))
    return out


def ns_per_call(fn: Callable[[InferenceRecord], int], batch: list[InferenceRecord]) -> float:
    reps = N // len(batch)
    t0 = time.perf_counter_ns()
    for _ in range(reps):
        for record in batch:
            fn(record)
    return (time.perf_counter_ns() - t0) / (reps * len(batch))


def main() -> None:
    candidates = {
        "before (unkeyed)": unkeyed_before,
        "keyless": make_sampling_hash(None),
        "keyed": make_sampling_hash(b"s" * 32),
    }
    for kind in ("trace id", "inference id", "generated id"):
        batch = records(kind)
        best = dict.fromkeys(candidates, float("inf"))
        for _ in range(ROUNDS):  # interleaved, best of ROUNDS
            for name, fn in candidates.items():
                best[name] = min(best[name], ns_per_call(fn, batch))
        base = best["before (unkeyed)"]
        row = "  ".join(f"{name} {ns:6.0f} ns ({ns / base:4.2f}x)" for name, ns in best.items())
        print(f"{kind:13s} {row}")


if __name__ == "__main__":
    main()
