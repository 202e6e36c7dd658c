"""GroupQuality: quality kept apart per traffic group, bounded, mergeable."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inferwatch.feedback import GroupQuality, holdout

KEY = "hex:" + "3c" * 32


def test_per_group_mean_and_variance_match_numpy() -> None:
    rng = np.random.default_rng(1)
    values = {"holdout": rng.normal(0.4, 0.2, 300), "treated": rng.normal(0.5, 0.3, 900)}
    quality = GroupQuality()
    for group, xs in values.items():
        quality.add_many(group, xs)
    stats = quality.groups()
    for group, xs in values.items():
        assert stats[group].n == len(xs)
        assert stats[group].mean == pytest.approx(xs.mean())
        assert stats[group].variance == pytest.approx(xs.var(ddof=1))
        assert stats[group].stderr == pytest.approx(xs.std(ddof=1) / math.sqrt(len(xs)))


def test_merge_equals_one_pass_and_survives_json() -> None:
    rng = np.random.default_rng(2)
    xs = rng.random(1000)
    groups = np.where(rng.random(1000) < 0.1, "holdout", "treated")
    whole, a, b = GroupQuality(), GroupQuality(), GroupQuality()
    for i, (g, x) in enumerate(zip(groups, xs, strict=True)):
        whole.add(str(g), x)
        (a if i % 2 else b).add(str(g), x)
    merged = a.merge(GroupQuality.from_dict(json.loads(json.dumps(b.to_dict()))))
    for group, stats in whole.groups().items():
        other = merged.groups()[group]
        assert (other.n, other.mean, other.variance) == pytest.approx(
            (stats.n, stats.mean, stats.variance))


def test_holdout_against_treated_by_simulation() -> None:
    # The model adds 0.05 to a unit's reward; the holdout gets the default policy.
    rng = np.random.default_rng(3)
    quality = GroupQuality()
    for unit in range(20_000):
        group = "holdout" if holdout(unit, 0.2, key=KEY) else "treated"
        quality.add(group, rng.normal(0.30 + (0.05 if group == "treated" else 0.0), 0.1))
    diff = quality.compare("treated", "holdout")
    assert diff.ci_low < 0.05 < diff.ci_high
    assert diff.ci_low > 0  # the model's lift is detected
    assert diff.relative == pytest.approx(0.05 / 0.30, rel=0.1)
    same = GroupQuality()
    for unit in range(4000):
        same.add("holdout" if holdout(unit, 0.5, key=KEY) else "treated", rng.normal(0.3, 0.1))
    null = same.compare()
    assert null.ci_low < 0 < null.ci_high


def test_memory_is_bounded_by_max_groups() -> None:
    quality = GroupQuality(max_groups=2)
    for i in range(100):
        quality.add(f"g{i}", 1.0)
    assert set(quality.groups()) == {"g0", "g1", "_other"}
    assert quality.groups()["_other"].n == 98 == quality.overflowed
    other = GroupQuality(max_groups=2)
    other.add("g7", 2.0)
    quality.merge(other)
    assert quality.groups()["_other"].n == 99 and quality.overflowed == 99


def test_bad_input() -> None:
    quality = GroupQuality()
    with pytest.raises(ValueError, match="finite"):
        quality.add("treated", float("nan"))
    with pytest.raises(ValueError, match="group"):
        quality.add("", 1.0)
    with pytest.raises(ValueError, match="max_groups"):
        GroupQuality(0)
    quality.add("treated", 1.0)
    with pytest.raises(KeyError, match="holdout"):
        quality.compare()
    with pytest.raises(TypeError):
        quality.merge(object())  # type: ignore[arg-type]
