"""The policy's value estimated from logged propensities and joined outcomes (IPW, SNIPS).

A simulated epsilon-greedy recommender with known click rates: the logging
policy explores, the evaluated policy is the greedy one (its value known in
closed form), clicks arrive as outcomes after the call. The tracker's
estimate must cover the truth, match the estimators fed the same tuples
directly, wait out each decision's horizon, and add up across replicas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from calltools import WallClock, value

import inferwatch
import inferwatch.feedback as feedback
import inferwatch.labels
from inferwatch import ConfigurationError, Monitor

#: Click probability of each of four items; the greedy policy's pick depends on x.
CLICK = np.array([[0.10, 0.30, 0.05, 0.20], [0.40, 0.10, 0.15, 0.25]])
EPSILON = 0.3


def _recommender(mon: Monitor, rng: np.random.Generator, *, variant: str | None = None) -> Any:
    attributes = {"variant": variant} if variant else None

    @inferwatch.monitor(model="ranker", version="4", monitor=mon, attributes=attributes,
                        inference_id=lambda context, rid: rid)
    def recommend(context: int, rid: str) -> int:
        greedy = int(CLICK[context].argmax())
        explored = bool(rng.random() < EPSILON)
        action = int(rng.integers(4)) if explored else greedy
        p = EPSILON / 4 + (1 - EPSILON) * (action == greedy)
        feedback.set_propensity(p, explored=explored, target=action == greedy)
        return action

    return recommend


def _simulate(mon: Monitor, n: int, seed: int, *, variant: str | None = None,
              prefix: str = "r") -> list[tuple[float, float, float]]:
    """n calls and their clicks; returns the logged (reward, propensity, target)."""
    rng = np.random.default_rng(seed)
    recommend = _recommender(mon, rng, variant=variant)
    logged = []
    for i in range(n):
        context = int(rng.integers(2))
        rid = f"{prefix}{i}"
        action = recommend(context, rid)
        greedy = int(CLICK[context].argmax())
        p = EPSILON / 4 + (1 - EPSILON) * (action == greedy)
        clicked = bool(rng.random() < CLICK[context, action])
        if clicked:
            inferwatch.record_outcome(rid, "click")
        logged.append((float(clicked), p, float(action == greedy)))
    return logged


def _point(mon: Monitor, name: str, **attrs: Any) -> Any:
    return value(mon.collect(), name, **attrs)


def test_the_greedy_policys_value_is_estimated_from_joined_clicks(make_monitor: Any) -> None:
    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, policy_reward="click",
                                      policy_horizon="10m", clock=clock)
    logged = _simulate(mon, 4000, seed=1)
    tracker.flush()
    assert tracker.policy_value() == []  # nothing has passed its horizon yet
    assert tracker.summary()["policy"]["waiting"] == 4000
    clock.offset = 700.0  # past the 10 minute horizon (and its bucket)
    (row,) = tracker.policy_value()
    truth = CLICK.max(axis=1).mean()  # contexts are equally likely
    rewards, propensities, targets = map(np.asarray, zip(*logged, strict=True))
    direct_ipw = feedback.ipw(rewards, propensities, targets)
    direct_snips = feedback.snips(rewards, propensities, targets)
    assert row["decisions"] == 4000 and row["reward"] == "click" and row["variant"] is None
    assert row["ipw"]["value"] == pytest.approx(direct_ipw.value, rel=1e-9)
    assert row["ipw"]["stderr"] == pytest.approx(direct_ipw.stderr, rel=1e-9)
    assert row["snips"]["value"] == pytest.approx(direct_snips.value, rel=1e-9)
    assert row["snips"]["stderr"] == pytest.approx(direct_snips.stderr, rel=1e-9)
    assert row["snips"]["ci_low"] <= truth <= row["snips"]["ci_high"]
    assert row["ipw"]["ci_low"] <= truth <= row["ipw"]["ci_high"]
    # The logging policy's own click rate is lower: the estimate is not the plain mean.
    assert rewards.mean() < truth - 0.02
    assert _point(mon, "inferwatch.policy.decisions", **{"model.name": "ranker"}) == 4000
    assert _point(mon, "inferwatch.policy.value",
                  **{"inferwatch.policy.estimator": "snips"}) == pytest.approx(
        direct_snips.value, rel=1e-9)
    assert _point(mon, "inferwatch.policy.rewards",
                  **{"inferwatch.labels.result": "counted"}) == int(rewards.sum())


def test_covers_the_truth_in_most_simulated_runs(make_monitor: Any) -> None:
    truth = CLICK.max(axis=1).mean()
    covered = 0
    runs = 20
    for seed in range(runs):
        mon = make_monitor()
        clock = WallClock()
        tracker = inferwatch.labels.track(mon, positive=1, policy_reward="click",
                                          policy_horizon=60, clock=clock)
        _simulate(mon, 800, seed=100 + seed)
        tracker.flush()
        clock.offset = 120.0
        (row,) = tracker.policy_value()
        covered += row["snips"]["ci_low"] <= truth <= row["snips"]["ci_high"]
        tracker.close()
        mon.shutdown()
    assert covered >= 17, f"the 95 % interval covered the true value in {covered}/{runs} runs"


def test_a_reward_after_the_horizon_is_left_out_and_counted(make_monitor: Any) -> None:
    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, policy_reward="click",
                                      policy_horizon=60, clock=clock)
    recommend = _recommender(mon, np.random.default_rng(0))
    for i in range(10):
        recommend(0, f"a{i}")
    tracker.flush()
    for i in range(5):
        inferwatch.record_outcome(f"a{i}", "click")  # in time
    tracker.flush()
    clock.offset = 90.0
    for i in range(5, 10):
        inferwatch.record_outcome(f"a{i}", "click")  # too late
    inferwatch.record_outcome("a0", "click")  # a second click: outcomes count it, not the policy
    (row,) = tracker.policy_value()
    assert tracker.summary()["policy"]["rewards"] == {"counted": 5, "late": 5, "unlogged": 0}
    assert row["decisions"] == 10
    weights = [row["weight"]]
    assert weights[0] > 0 and row["weighted_reward"] < row["weight"]  # only half rewarded
    assert {r["name"]: r["count"] for r in tracker.outcomes()}["click"] == 11


def test_calls_without_a_propensity_are_not_decisions(make_monitor: Any) -> None:
    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, policy_reward="click",
                                      policy_horizon=60, clock=clock)

    @inferwatch.monitor(model="ranker", monitor=mon, inference_id=lambda rid: rid)
    def plain(rid: str) -> int:
        return 1

    plain("p0")
    inferwatch.record_outcome("p0", "click")
    clock.offset = 120.0
    assert tracker.policy_value() == []
    assert tracker.summary()["policy"]["rewards"]["unlogged"] == 1


def test_without_a_target_the_value_is_the_logging_policys_own(make_monitor: Any) -> None:
    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, policy_reward="revenue",
                                      policy_horizon=60, clock=clock)

    @inferwatch.monitor(model="ranker", monitor=mon, inference_id=lambda rid, p: rid)
    def act(rid: str, p: float) -> int:
        feedback.set_propensity(p)
        return 1

    rewards = [3.0, 0.0, 1.0, 0.0]
    for i, (p, r) in enumerate(zip([0.2, 0.5, 0.9, 0.4], rewards, strict=True)):
        act(f"o{i}", p)
        if r:
            inferwatch.record_outcome(f"o{i}", "revenue", r)
    clock.offset = 120.0
    (row,) = tracker.policy_value()
    assert row["ipw"]["value"] == pytest.approx(np.mean(rewards))  # weights of 1
    assert row["snips"]["value"] == pytest.approx(np.mean(rewards))


def test_variants_are_estimated_apart(make_monitor: Any) -> None:
    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, policy_reward="click",
                                      policy_horizon=60, clock=clock)
    _simulate(mon, 300, seed=3, variant="a", prefix="a")
    _simulate(mon, 200, seed=4, variant="b", prefix="b")
    clock.offset = 120.0
    rows = {row["variant"]: row["decisions"] for row in tracker.policy_value()}
    assert rows == {"a": 300, "b": 200}


def test_replicas_sums_add_up_to_the_fleets_estimate(make_monitor: Any) -> None:
    """A decision counted where its prediction was stored, its reward where its outcome
    was joined: the exported sums of two replicas give one process's estimate exactly."""
    from inferwatch.labels._policy import PolicyValues
    from inferwatch.labels._store import StoredPrediction

    rng = np.random.default_rng(5)
    entries = [StoredPrediction(f"i{k}", "m", "1", 1, 0.5, 0.5, 1000.0 + k,
                                policy=(float(rng.uniform(0.1, 1)), float(rng.integers(2))))
               for k in range(200)]
    clicks = rng.random(200) < 0.3
    whole, a, b = (PolicyValues("click", 60.0) for _ in range(3))
    whole.add_decisions(entries, now=1000.0)
    a.add_decisions(entries[:100], now=1000.0)  # replica A stored these
    b.add_decisions(entries[100:], now=1000.0)  # and B those
    for k, entry in enumerate(entries):
        if clicks[k]:
            whole.add_reward(entry, 1.0, received=entry.timestamp + 5, now=entry.timestamp + 5)
            # every outcome reached the other replica than its prediction did
            (b if k < 100 else a).add_reward(entry, 1.0, received=entry.timestamp + 5,
                                             now=entry.timestamp + 5)
    for values in (whole, a, b):
        values.mature(now=2000.0)
    one = whole.rows()[0]
    two = [a.rows()[0], b.rows()[0]]
    assert sum(r["decisions"] for r in two) == one["decisions"] == 200
    fleet_ipw = sum(r["weighted_reward"] for r in two) / sum(r["decisions"] for r in two)
    fleet_snips = sum(r["weighted_reward"] for r in two) / sum(r["weight"] for r in two)
    assert fleet_ipw == pytest.approx(one["ipw"]["value"], rel=1e-12)
    assert fleet_snips == pytest.approx(one["snips"]["value"], rel=1e-12)


def test_memory_is_bounded_by_buckets_not_traffic() -> None:
    from inferwatch.labels._policy import MAX_BUCKETS, PolicyValues
    from inferwatch.labels._store import StoredPrediction

    values = PolicyValues("click", 3600.0)
    entries = [StoredPrediction(f"i{k}", "m", "1", 1, 0.5, 0.5, 1000.0 + k * 0.01,
                                policy=(0.5, 1.0)) for k in range(20_000)]
    values.add_decisions(entries, now=1000.0)
    assert values.waiting == 20_000
    small = values.nbytes
    assert small < 200 * 10  # 200 s of calls in 56 s buckets: a handful of buckets
    far = [StoredPrediction(f"f{k}", "m", "1", 1, 0.5, 0.5, 1e6 + k * 100.0, policy=(0.5, 1.0))
           for k in range(MAX_BUCKETS + 50)]
    values.add_decisions(far, now=1000.0)  # clock-skewed timestamps: buckets are capped
    assert values.dropped["policy_buckets_full"] > 0
    assert values.nbytes <= 200 * (MAX_BUCKETS + 1)


@pytest.mark.parametrize("options, message", [
    ({"policy_reward": "bad name!"}, "policy_reward"),
    ({"policy_reward": "click", "policy_horizon": 0}, "policy_horizon"),
    ({"policy_reward": "click", "policy_horizon": "soon"}, "policy_horizon"),
    ({"policy_reward": "click", "policy_clip": -1}, "policy_clip"),
])
def test_bad_policy_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        inferwatch.labels.LabelTracker(positive=1, **options)


def test_a_bad_target_is_dropped_and_counted(make_monitor: Any) -> None:
    mon = make_monitor()

    @inferwatch.monitor(model="ranker", monitor=mon)
    def act() -> bool:
        return feedback.set_propensity(0.5, target=1.5)

    assert act() is False
    mon.drain()
    dropped = {p.attributes.get("inferwatch.reason"): p.value for p in mon.collect()
               if p.name == "inferwatch.self.dropped"}
    assert dropped.get("invalid_target") == 1


def test_the_status_page_shows_the_policy_value_from_the_document(make_monitor: Any) -> None:
    import html as htmllib
    import json
    import re

    from inferwatch.status._html import render_html

    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, policy_reward="click",
                                      policy_horizon=60, clock=clock)
    _simulate(mon, 400, seed=9)
    clock.offset = 120.0
    tracker.flush()
    doc = json.loads(json.dumps(mon.summary(), default=str))
    page = render_html(doc)
    assert "<h3>Policy value</h3>" in page
    shown = [(json.loads(htmllib.unescape(k)), json.loads(htmllib.unescape(v)))
             for k, v in re.findall(r'data-key="([^"]*)" data-value="([^"]*)"', page)]
    policy = [(path, number) for path, number in shown if "policy" in path]
    assert len(policy) >= 5  # decisions, IPW, SNIPS, waiting, late
    for path, number in policy:  # every number shown is the document's
        node: Any = doc
        for step in path:
            node = node[step]
        assert node == number, path
