"""Property tests of the sketches: hostile streams, round trips, merges, corrupted bytes.

Streams hold NaN, ±inf, huge and subnormal values, empty and constant
batches, mixed categories; every sketch must count what it dropped, keep its
invariants (exact min/max, weights adding up to ``n``, Misra-Gries bounds,
reservoir rows drawn from the stream), survive ``to_bytes``/``from_bytes``
unchanged, and merge like the union of its streams. Any byte string handed
to ``from_bytes`` (flipped, truncated, extended, or a forged payload with a
valid checksum) either raises ``ValueError`` saying what is wrong or gives a
sketch that keeps those invariants: never another exception, never a sketch
that breaks later.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

import numpy as np
import pytest
from fuzz.hostile import hostile_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from inferwatch.sketches import BinnedCounts, KLLSketch, Reservoir, TopKCounts, sketch_from_bytes
from inferwatch.sketches._format import frame

#: Examples per property (reported in the README's Reliability section).
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "300"))

_floats = st.one_of(
    st.floats(),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=10),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, np.nan, np.inf, -np.inf]),
)
_streams = st.one_of(
    hnp.arrays(np.float64, st.integers(0, 400), elements=_floats),
    hnp.arrays(np.float32, st.integers(0, 50)),
    hnp.arrays(np.int64, st.integers(0, 50)),
    st.builds(lambda v, n: np.full(n, v), _floats, st.integers(0, 3000)),  # constant
    st.builds(lambda seed, n: np.random.default_rng(seed).normal(size=n),
              st.integers(0, 2**32 - 1), st.integers(0, 20_000)),
)
_batches = st.lists(_streams, min_size=1, max_size=4)


def _finite(batches: list[np.ndarray]) -> np.ndarray:
    x = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in batches])
    return x[np.isfinite(x)]


def _corruptions(data: bytes) -> st.SearchStrategy[bytes]:
    n = len(data)
    return st.one_of(
        st.builds(lambda i, bit: data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:],
                  st.integers(0, n - 1), st.integers(0, 7)),
        st.builds(lambda i: data[:i], st.integers(0, n - 1)),
        st.builds(lambda extra: data + extra, st.binary(min_size=1, max_size=16)),
        st.binary(max_size=64),
    )


def _forged(kind: int) -> st.SearchStrategy[bytes]:
    """A payload the checksum cannot catch: what a buggy or hostile writer sends."""
    return st.binary(max_size=300).map(lambda payload: frame(kind, payload))


# -- KLL ---------------------------------------------------------------------------------------


def _check_kll(s: KLLSketch) -> None:
    """Invariants every KLL sketch must keep, however it was built."""
    assert s.n >= 0 and s.n_nan >= 0 and s.n_inf >= 0
    if s.n == 0:
        assert math.isnan(s.min) and math.isnan(s.max)
        with pytest.raises(ValueError, match="empty"):
            s.sorted_view()
        return
    values, cum = s.sorted_view()
    assert np.isfinite(values).all()
    assert cum[-1] == s.n  # the weights add up to the count
    assert s.min <= values[0] and values[-1] <= s.max
    q = s.quantile(np.linspace(0, 1, 11))
    assert (q[1:] >= q[:-1]).all() and q[0] == s.min and q[-1] == s.max
    assert ((s.cdf(values) >= 0) & (s.cdf(values) <= 1)).all()
    assert s.bin_counts(q).sum() == pytest.approx(s.n, rel=1e-9)


@hostile_settings(EXAMPLES)
@given(batches=_batches, k=st.sampled_from([8, 16, 200, 400]), split=st.booleans())
def test_kll_counts_round_trips_and_merges(batches: list[np.ndarray], k: int,
                                           split: bool) -> None:
    x = _finite(batches)
    whole = KLLSketch(k)
    parts = [KLLSketch(k, seed=i) for i in range(len(batches))]
    for batch, part in zip(batches, parts, strict=True):
        whole.update_batch(batch)
        part.update_batch(batch)
    raw = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in batches])
    assert whole.n == x.size
    assert whole.n_nan == int(np.isnan(raw).sum())
    assert whole.n_inf == int(np.isinf(raw).sum())
    if x.size:
        assert whole.min == x.min() and whole.max == x.max()
    _check_kll(whole)
    back = KLLSketch.from_bytes(whole.to_bytes())
    assert back.to_bytes() == whole.to_bytes()
    _check_kll(back)
    merged = KLLSketch(k)
    for part in parts:
        merged.merge(part)
    assert merged.n == whole.n and merged.n_nan == whole.n_nan and merged.n_inf == whole.n_inf
    _check_kll(merged)
    if split and x.size:  # one value at a time agrees with the batch
        single = KLLSketch(k)
        for v in raw[:300].tolist():
            single.update(v)
        assert single.n == int(np.isfinite(raw[:300]).sum())


@hostile_settings(EXAMPLES)
@given(st.data())
def test_kll_from_any_bytes_is_a_sketch_or_a_value_error(data: st.DataObject) -> None:
    s = KLLSketch(16)
    s.update_batch(data.draw(_streams, label="stream"))
    blob = data.draw(st.one_of(_corruptions(s.to_bytes()), _forged(1)), label="blob")
    _check_any_bytes(KLLSketch, blob)


def _check_any_bytes(cls: Any, blob: bytes) -> None:
    try:
        sketch = cls.from_bytes(blob)
    except ValueError as exc:
        assert str(exc)  # says what is wrong
        return
    # Accepted: it must behave like a sketch from here on.
    check = {KLLSketch: _check_kll, BinnedCounts: _check_binned, TopKCounts: _check_topk,
             Reservoir: _check_reservoir}[cls]
    check(sketch)
    assert cls.from_bytes(sketch.to_bytes()).to_bytes() == sketch.to_bytes()
    if cls is TopKCounts:
        sketch.update_batch(["a", 1, "a"])
    elif cls is Reservoir:
        if sketch.n_features:
            sketch.update_batch(np.ones((3, sketch.n_features)))
    else:
        sketch.update_batch(np.array([1.0, 2.0, np.nan]))
    check(sketch)
    assert type(sketch_from_bytes(sketch.to_bytes())) is cls


# -- BinnedCounts -------------------------------------------------------------------------------


def _check_binned(b: BinnedCounts) -> None:
    assert b.counts.dtype == np.int64 and (b.counts >= 0).all()
    assert b.counts.size == b.edges.size + 1
    assert np.isfinite(b.edges).all() and (b.edges[1:] >= b.edges[:-1]).all()
    assert b.n == int(b.counts.sum()) and b.n_nan >= 0 and b.n_inf >= 0


@hostile_settings(EXAMPLES)
@given(reference=_streams, batches=_batches, bins=st.integers(1, 20))
def test_binned_counts_round_trips_and_merges(reference: np.ndarray, batches: list[np.ndarray],
                                              bins: int) -> None:
    ref = _finite([reference])
    if ref.size == 0:
        with pytest.raises(ValueError, match="no finite values"):
            BinnedCounts.from_reference(reference, bins)
        return
    whole = BinnedCounts.from_reference(reference, bins)
    parts = [BinnedCounts(whole.edges) for _ in batches]
    for batch, part in zip(batches, parts, strict=True):
        whole.update_batch(batch)
        part.update_batch(batch)
    assert whole.n == _finite(batches).size
    _check_binned(whole)
    merged = BinnedCounts(whole.edges)
    for part in parts:
        merged.merge(part)
    assert (merged.counts == whole.counts).all()
    back = BinnedCounts.from_bytes(whole.to_bytes())
    assert (back.counts == whole.counts).all() and (back.edges == whole.edges).all()
    assert (back.n_nan, back.n_inf) == (whole.n_nan, whole.n_inf)
    if whole.n:
        psi = whole.psi_against(merged).statistic
        assert psi == pytest.approx(0.0, abs=1e-12)


@hostile_settings(EXAMPLES)
@given(st.data())
def test_binned_from_any_bytes_is_a_sketch_or_a_value_error(data: st.DataObject) -> None:
    b = BinnedCounts(np.linspace(0, 1, 5))
    b.update_batch(data.draw(_streams, label="stream"))
    blob = data.draw(st.one_of(_corruptions(b.to_bytes()), _forged(2)), label="blob")
    _check_any_bytes(BinnedCounts, blob)


# -- TopK ----------------------------------------------------------------------------------------

_categories = st.one_of(
    st.text(st.characters(codec=None), max_size=6), st.integers(-3, 3), st.booleans(),
    st.floats(), st.none(), st.sampled_from([np.float32("nan"), np.int64(2), np.str_("a")]),
)


def _check_topk(t: TopKCounts) -> None:
    assert t.total >= 0 and t.n_missing >= 0
    assert len(t.counts) <= t.k
    assert all(v > 0 for v in t.counts.values())
    assert 0 <= t.other <= t.total
    assert all(not (isinstance(c, float) and math.isnan(c)) for c in t.counts)


@hostile_settings(EXAMPLES)
@given(batches=st.lists(st.lists(_categories, max_size=60), min_size=1, max_size=4),
       k=st.integers(1, 8))
def test_topk_bounds_round_trips_and_merges(batches: list[list[Any]], k: int) -> None:
    whole = TopKCounts(k)
    parts = [TopKCounts(k) for _ in batches]
    for batch, part in zip(batches, parts, strict=True):
        whole.update_batch(batch)
        part.update_batch(batch)
    items = [v for b in batches for v in b]
    missing = [v for v in items if v is None or (isinstance(v, (float, np.floating))
                                                 and math.isnan(v))]
    truth = Counter(v for v in items if not any(v is m for m in missing))
    assert whole.n_missing == len(missing)
    assert whole.total == sum(truth.values())
    _check_topk(whole)
    for category, count in truth.items():  # Misra-Gries: under by at most the bound
        estimate = whole.counts.get(category, 0)
        assert count - whole.error_bound - 1e-9 <= estimate <= count
    merged = TopKCounts(k)
    for part in parts:
        merged.merge(part)
    assert merged.total == whole.total and merged.n_missing == whole.n_missing
    _check_topk(merged)
    back = TopKCounts.from_bytes(whole.to_bytes())
    assert back.counts == whole.counts and back.total == whole.total


@hostile_settings(EXAMPLES)
@given(st.data())
def test_topk_from_any_bytes_is_a_sketch_or_a_value_error(data: st.DataObject) -> None:
    t = TopKCounts(4)
    t.update_batch(data.draw(st.lists(st.text(max_size=4) | st.integers(), max_size=20)))
    blob = data.draw(st.one_of(_corruptions(t.to_bytes()), _forged(3)), label="blob")
    _check_any_bytes(TopKCounts, blob)


# -- Reservoir ------------------------------------------------------------------------------------


def _check_reservoir(r: Reservoir) -> None:
    rows = r.rows
    assert rows.shape[0] == min(r.n, r.capacity)
    assert np.isfinite(rows).all()
    assert r.n >= 0 and r.n_dropped >= 0


@hostile_settings(EXAMPLES)
@given(
    batches=st.lists(
        hnp.arrays(np.float64, st.tuples(st.integers(0, 300), st.just(3)), elements=_floats),
        min_size=1, max_size=4),
    capacity=st.integers(1, 64),
)
def test_reservoir_samples_rows_round_trips_and_merges(batches: list[np.ndarray],
                                                       capacity: int) -> None:
    whole = Reservoir(capacity)
    parts = [Reservoir(capacity, seed=i) for i in range(len(batches))]
    for batch, part in zip(batches, parts, strict=True):
        whole.update_batch(batch)
        part.update_batch(batch)
    stacked = np.vstack(batches)
    finite_rows = stacked[np.isfinite(stacked).all(axis=1)]
    assert whole.n == finite_rows.shape[0]
    assert whole.n_dropped == stacked.shape[0] - finite_rows.shape[0]
    _check_reservoir(whole)
    offered = {tuple(row) for row in finite_rows.tolist()}
    assert all(tuple(row) in offered for row in whole.rows.tolist())
    merged = Reservoir(capacity)
    for part in parts:
        merged.merge(part)
    assert merged.n == whole.n
    _check_reservoir(merged)
    assert all(tuple(row) in offered for row in merged.rows.tolist())
    back = Reservoir.from_bytes(whole.to_bytes())
    assert back.to_bytes() == whole.to_bytes()
    back.update_batch(np.ones((5, 3)))  # the restored sampler keeps going
    _check_reservoir(back)


@hostile_settings(EXAMPLES)
@given(st.data())
def test_reservoir_from_any_bytes_is_a_sketch_or_a_value_error(data: st.DataObject) -> None:
    r = Reservoir(8)
    r.update_batch(data.draw(hnp.arrays(np.float64, st.tuples(st.integers(0, 30), st.just(2)))))
    blob = data.draw(st.one_of(_corruptions(r.to_bytes()), _forged(4)), label="blob")
    _check_any_bytes(Reservoir, blob)


# -- mixed and hostile types ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [["a", "b"], [object()], [1j, 2j], np.array([1j]),
                                 [[1.0], [2.0, 3.0]], np.array(["x"], dtype=object)])
@pytest.mark.parametrize("cls", [KLLSketch, BinnedCounts])
def test_numeric_sketches_refuse_non_numbers_clearly(cls: Any, bad: Any) -> None:
    sketch = KLLSketch() if cls is KLLSketch else BinnedCounts([0.0, 1.0])
    before = sketch.to_bytes()
    with pytest.raises((TypeError, ValueError), match=r"numeric"):
        sketch.update_batch(bad)
    assert sketch.to_bytes() == before  # nothing half-applied


@pytest.mark.parametrize("cls", [KLLSketch, BinnedCounts])
def test_ints_past_the_float_range_count_as_infinite(cls: Any) -> None:
    sketch = KLLSketch() if cls is KLLSketch else BinnedCounts([0.0, 1.0])
    sketch.update_batch([10**400, -(10**400), 0.5, None])
    sketch.update(10**400)
    assert (sketch.n, sketch.n_inf, sketch.n_nan) == (1, 3, 1)


# -- forged payloads: a valid frame around a payload that lies ----------------------------------


def _kll_payload(k: int = 8, n: int = 2, n_nan: int = 0, n_inf: int = 0, lo: float = 1.0,
                 hi: float = 2.0, levels: list[list[float]] | None = None,
                 state: bytes | None = None) -> bytes:
    import json
    import struct

    levels = [[1.0, 2.0]] if levels is None else levels
    if state is None:
        state = json.dumps(np.random.default_rng(0).bit_generator.state).encode()
    parts = [struct.pack("<IQQQddI", k, n, n_nan, n_inf, lo, hi, len(levels)),
             struct.pack("<I", len(state)), state]
    for level in levels:
        parts.append(struct.pack("<I", len(level)))
        parts.append(np.asarray(level, dtype="<f8").tobytes())
    return frame(1, b"".join(parts))


_DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("blob", [
    _kll_payload(n=3),  # weights add up to 2
    _kll_payload(levels=[[1.0, float("nan")]]),
    _kll_payload(lo=5.0, hi=1.0),
    _kll_payload(lo=float("nan")),
    _kll_payload(levels=[[2.0, 1.0]]),  # a level must be sorted? no: but within [lo, hi]
    _kll_payload(levels=[[0.0, 9.0]]),  # outside [lo, hi]
    _kll_payload(k=3),
    _kll_payload(n=2, levels=[[]] * 2000 + [[1.0, 2.0]]),  # 2**2000 weights
    _kll_payload(state=b"[1, 2]"),
    _kll_payload(state=_DEEP_JSON),
], ids=["n", "nan_level", "min_gt_max", "nan_min", "unsorted", "outside", "k", "levels",
        "state", "deep_state"])
def test_forged_kll_payloads_are_refused(blob: bytes) -> None:
    if blob == _kll_payload(levels=[[2.0, 1.0]]):
        sketch = KLLSketch.from_bytes(blob)  # order inside a level carries no meaning
        _check_kll(sketch)
        return
    with pytest.raises(ValueError, match="corrupted KLLSketch"):
        KLLSketch.from_bytes(blob)


def _topk_payload(body: Any) -> bytes:
    import json

    text = body if isinstance(body, bytes) else json.dumps(body).encode()
    return frame(3, text)


@pytest.mark.parametrize("blob", [
    _topk_payload({"k": 2, "total": 5, "n_missing": 0, "counts": [["a", -1]]}),
    _topk_payload({"k": 2, "total": 1, "n_missing": 0, "counts": [["a", 3]]}),
    _topk_payload({"k": 1, "total": 9, "n_missing": 0, "counts": [["a", 3], ["b", 3]]}),
    _topk_payload({"k": 2, "total": 9, "n_missing": -4, "counts": []}),
    _topk_payload(b'{"k": 2, "total": 3, "n_missing": 0, "counts": [[NaN, 3]]}'),
    _topk_payload({"k": 2, "total": 3, "n_missing": 0, "counts": [[["a"], 3]]}),
    _topk_payload({"k": 2, "total": 3, "n_missing": 0, "counts": [["a", 1.5]]}),
    _topk_payload(b'{"k": 2, "total": 3, "n_missing": 0, "counts": ' + _DEEP_JSON + b"}"),
    _topk_payload([1, 2]),
], ids=["negative", "over_total", "over_k", "negative_missing", "nan", "list", "fraction",
        "deep", "not_object"])
def test_forged_topk_payloads_are_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="corrupted TopKCounts"):
        TopKCounts.from_bytes(blob)


def _reservoir_payload(rows: np.ndarray | None = None, **meta: Any) -> bytes:
    import json
    import struct

    r = Reservoir(4, seed=0)
    r.update_batch(np.arange(12.0).reshape(6, 2))
    body = {"capacity": 4, "n_features": 2, "size": 4, "n": 6, "n_dropped": 0,
            "w": r._w, "next": r._next, "rng": r._rng.bit_generator.state}
    body.update(meta)
    head = json.dumps(body).encode()
    data = (r.rows if rows is None else rows).astype("<f8").tobytes()
    return frame(4, struct.pack("<I", len(head)) + head + data)


@pytest.mark.parametrize("blob", [
    _reservoir_payload(size=5, rows=np.zeros((5, 2))),  # more rows than capacity
    _reservoir_payload(n=3),  # fewer rows seen than kept
    _reservoir_payload(w=1.0),
    _reservoir_payload(w=0.0),
    _reservoir_payload(w=float("nan")),
    _reservoir_payload(next=2),  # the next replacement lies in the past
    _reservoir_payload(capacity=10**12, size=4),
    _reservoir_payload(n_features=0, rows=np.zeros((0, 0)), size=0, n=0),
    _reservoir_payload(rows=np.full((4, 2), np.nan)),
    _reservoir_payload(n_dropped=-1),
    _reservoir_payload(rng=[1]),
], ids=["size", "n", "w1", "w0", "wnan", "next", "capacity", "width", "nan_rows", "dropped",
        "rng"])
def test_forged_reservoir_payloads_are_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="corrupted Reservoir"):
        Reservoir.from_bytes(blob)


def _binned_payload(edges: list[float], counts: list[int]) -> bytes:
    import struct

    payload = (struct.pack("<IQQ", len(edges), 0, 0) + np.asarray(edges, "<f8").tobytes()
               + np.asarray(counts, "<i8").tobytes())
    return frame(2, payload)


@pytest.mark.parametrize("blob", [
    _binned_payload([0.0, 1.0], [1, -2, 3]),
    _binned_payload([1.0, 0.0], [1, 2, 3]),
    _binned_payload([0.0, float("nan")], [1, 2, 3]),
], ids=["negative", "decreasing", "nan"])
def test_forged_binned_payloads_are_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="corrupted BinnedCounts"):
        BinnedCounts.from_bytes(blob)


def test_a_constant_reference_round_trips() -> None:
    counts = BinnedCounts.from_reference([3.0] * 10)
    counts.update_batch([3.0, 2.0, 4.0])
    back = BinnedCounts.from_bytes(counts.to_bytes())
    assert back.counts.tolist() == counts.counts.tolist() == [1, 1, 1]


def test_reservoir_ignores_an_empty_batch_for_its_width() -> None:
    r = Reservoir(4)
    r.update_batch(np.array([]))
    r.update_batch(np.ones((2, 3)))
    assert r.n_features == 3 and r.n == 2
    with pytest.raises(ValueError, match="at least one feature"):
        Reservoir(4).update_batch(np.empty((3, 0)))
