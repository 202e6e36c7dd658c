"""holdout: a stable, keyed share of units, the same in every process."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from typing import Any

import pytest

import inferwatch
from inferwatch import ConfigurationError
from inferwatch.feedback import holdout

KEY = "hex:" + "3c" * 32
OTHER_KEY = "hex:" + "c3" * 32
UNITS = [f"user-{i}" for i in range(20_000)]


def _held(share: float, key: str = KEY, name: str = "default") -> set[str]:
    return {u for u in UNITS if holdout(u, share, key=key, name=name)}


def _within_binomial(count: int, n: int, p: float, sds: float = 4.0) -> bool:
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("share", [0.01, 0.05, 0.3])
def test_the_share_is_honoured(share: float) -> None:
    assert _within_binomial(len(_held(share)), len(UNITS), share)


def test_deterministic_and_the_same_in_another_process() -> None:
    held = sorted(u for u in UNITS[:2000] if holdout(u, 0.1, key=KEY, name="exp"))
    assert held == sorted(u for u in UNITS[:2000] if holdout(u, 0.1, key=KEY, name="exp"))
    code = ("import inferwatch.feedback as f; print(','.join(sorted(u for u in "
            f"(f'user-{{i}}' for i in range(2000)) if f.holdout(u, 0.1, key={KEY!r}, "
            "name='exp'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().split(",") == held


def test_raising_the_share_only_adds_units() -> None:
    small, large = _held(0.05), _held(0.10)
    assert small < large


def test_names_and_keys_give_independent_groups() -> None:
    a = _held(0.2, name="ranker")
    b = _held(0.2, name="search")
    c = _held(0.2, key=OTHER_KEY, name="ranker")
    n = len(UNITS)
    for other in (b, c):
        # Independent draws overlap in about share**2 of the units.
        assert _within_binomial(len(a & other), n, 0.04)


def test_not_a_plain_hash_of_the_id() -> None:
    # The decision a plain SHA-256 of the id would give is not the one made.
    plain = {u for u in UNITS
             if int.from_bytes(hashlib.sha256(u.encode()).digest()[:8], "big") < 0.2 * 2**64}
    assert _within_binomial(len(plain & _held(0.2)), len(UNITS), 0.04)


def test_one_unit_whatever_its_type() -> None:
    for i in range(200):
        assert holdout(i, 0.3, key=KEY) == holdout(str(i), 0.3, key=KEY) \
            == holdout(str(i).encode(), 0.3, key=KEY)


def test_shares_zero_and_one() -> None:
    assert not _held(0.0)
    assert _held(1.0) == set(UNITS)


def test_the_monitors_sampling_key_is_used_without_key(make_monitor: Any) -> None:
    mon = make_monitor(sampling_key=KEY)
    inferwatch.set_monitor(mon)
    try:
        assert [holdout(u, 0.2) for u in UNITS[:500]] == [
            holdout(u, 0.2, key=KEY) for u in UNITS[:500]]
    finally:
        inferwatch.set_monitor(None)


def test_a_pii_key_serves_too(make_monitor: Any) -> None:
    inferwatch.set_monitor(make_monitor(pii_key=OTHER_KEY))
    try:
        held = {u for u in UNITS[:2000] if holdout(u, 0.2)}
        assert _within_binomial(len(held), 2000, 0.2)
    finally:
        inferwatch.set_monitor(None)


def test_without_any_key_it_says_what_to_do(make_monitor: Any) -> None:
    inferwatch.set_monitor(make_monitor())
    try:
        with pytest.raises(ConfigurationError, match=r"key=.*INFERWATCH_SAMPLING_KEY"):
            holdout("u1", 0.05)
    finally:
        inferwatch.set_monitor(None)


@pytest.mark.parametrize("share", [-0.01, 1.01, float("nan"), "0.05", True, None])
def test_bad_shares(share: Any) -> None:
    with pytest.raises(ConfigurationError, match="share"):
        holdout("u1", share, key=KEY)


@pytest.mark.parametrize("unit", [None, 1.5, ["u"], True])
def test_bad_units(unit: Any) -> None:
    with pytest.raises(TypeError, match="unit_id"):
        holdout(unit, 0.1, key=KEY)


@pytest.mark.parametrize("name", ["", "x" * 129, 7])
def test_bad_names(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="name"):
        holdout("u1", 0.1, key=KEY, name=name)


@pytest.mark.parametrize("key", ["short", b"\x01" * 31, 12345])
def test_bad_keys(key: Any) -> None:
    with pytest.raises(ConfigurationError):
        holdout("u1", 0.1, key=key)


def test_quality_of_holdout_and_treated_traffic_is_reported_apart(make_monitor: Any) -> None:
    # The group attribute names the label tracker's series: one row per group.
    import random

    import inferwatch.labels

    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, task="classification", positive=1,
                                      window="count:5000", variant_key="feedback.group")
    rng = random.Random(3)

    @inferwatch.monitor(model="ranker", monitor=mon, inference_id=lambda u, rid: rid)
    def recommend(user: str, rid: str) -> float:
        held = holdout(user, 0.3, key=KEY, name="ranker")
        inferwatch.set_attribute("feedback.group", "holdout" if held else "treated")
        return 0.2 if held else 0.9  # the default policy predicts "no click"

    labels, groups = [], {}
    for i in range(2000):
        user = f"u{i}"
        recommend(user, f"r{i}")
        held = holdout(user, 0.3, key=KEY, name="ranker")
        groups[f"r{i}"] = held
        labels.append((f"r{i}", int(rng.random() < (0.3 if held else 0.8))))
    inferwatch.record_labels(labels)
    rows = {r["variant"]: r for r in tracker.quality()}
    assert set(rows) == {"holdout", "treated"}
    n_held = sum(groups.values())
    assert rows["holdout"]["windows"][0]["pairs"] == n_held
    assert rows["treated"]["windows"][0]["pairs"] == 2000 - n_held
    acc = {g: rows[g]["windows"][0]["measures"]["accuracy"] for g in rows}
    assert acc["holdout"] == pytest.approx(0.7, abs=0.05)  # "no click" right 70 % of the time
    assert acc["treated"] == pytest.approx(0.8, abs=0.05)
