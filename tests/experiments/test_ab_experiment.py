"""The Experiment: bad input, merge equals one pass, SRM, decisions, the readout's text."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from abtools import DAY, KEY, NOW

import inferwatch.experiments as ex
from inferwatch import ConfigurationError
from inferwatch.experiments import Experiment, Guardrail, Metric


def _new(**options: object) -> Experiment:
    defaults: dict[str, object] = {
        "primary": "score", "mde": 0.1, "started_at": NOW - 20 * DAY, "clock": lambda: NOW,
    }
    defaults.update(options)
    return Experiment("exp", **defaults)  # type: ignore[arg-type]


def _feed(exp: Experiment, rng: np.random.Generator, n: int, effect: float,
          variants: tuple[str, ...] = ("control", "treatment")) -> None:
    for i in range(n):
        for k, variant in enumerate(variants):
            x = rng.normal(0, 1)
            y = 1.0 + (effect if k else 0.0) + 0.7 * x + rng.normal(0, 0.7)
            exp.observe(variant, {"score": y, "latency_ms": rng.normal(40, 5)}
                        if "latency_ms" in exp._metrics else y,
                        covariate=x, segment=("a", "b", "c")[i % 3], exposure_day=i % 9)


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, math.nan, "0.05", True])
def test_alpha_outside_zero_one(alpha: object) -> None:
    with pytest.raises(ConfigurationError, match="alpha must lie strictly between 0 and 1"):
        _new(alpha=alpha)


@pytest.mark.parametrize(("options", "message"), [
    ({"mde": 0.0}, "mde must be a positive"),
    ({"mde": math.inf}, "mde must be a positive"),
    ({"tau": -1.0}, "tau must be a positive"),
    ({"min_days": -1}, "min_days must be an integer >= 0"),
    ({"min_samples": 1}, "min_samples must be an integer >= 2"),
    ({"power": 1.0}, "power must lie strictly"),
    ({"weights": (1, 2, 3)}, "one weight per variant"),
    ({"primary": ""}, "non-empty name"),
])
def test_bad_configuration(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _new(**options)


def test_bad_metric() -> None:
    with pytest.raises(ConfigurationError, match="kind must be one of"):
        Metric("y", kind="median")
    with pytest.raises(ConfigurationError, match="higher_is_better must be a bool"):
        Metric("y", higher_is_better="yes")  # type: ignore[arg-type]


def test_bad_observations_are_refused_and_leave_no_trace() -> None:
    exp = _new(guardrails=[Guardrail("errors", margin=0.01, kind="proportion")])
    with pytest.raises(ValueError,
                       match=r"unknown variant 'treatmnet'.*\['control', 'treatment'\]"):
        exp.observe("treatmnet", 1.0)
    with pytest.raises(ValueError, match="is nan; pass finite numbers"):
        exp.observe("control", math.nan)
    with pytest.raises(ValueError, match="covariate for metric 'score' is inf"):
        exp.observe("control", 1.0, covariate=math.inf)
    with pytest.raises(ValueError, match="unknown metric 'sc0re'"):
        exp.observe("control", {"sc0re": 1.0})
    with pytest.raises(ValueError, match="'errors' is a proportion: its values must be 0 or 1"):
        exp.observe("control", {"score": 1.0, "errors": 0.5})
    with pytest.raises(ValueError, match="metric 'errors'"):
        exp.observe("control", {"score": 1.0, "errors": math.nan})
    with pytest.raises(ValueError, match="exposure_day must be >= 0"):
        exp.observe("control", 1.0, exposure_day=-1)
    with pytest.raises(TypeError, match="whole number of days"):
        exp.observe("control", 1.0, exposure_day=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a number"):
        exp.observe("control", "1.0")  # type: ignore[arg-type]
    r = exp.readout()
    assert [v.units for v in r.variants] == [0, 0] and [v.n for v in r.variants] == [0, 0]
    assert r.decision == "continue" and not r.stop


# -- merge -----------------------------------------------------------------------------------

def _numbers(r: ex.Readout) -> list[float]:
    out: list[float] = [r.day, r.srm.statistic, r.misassigned]
    for v in r.variants:
        out += [v.units, v.n, v.mean, *v.ci]
    for e in r.effects:
        out += [e.delta, e.variance, e.pvalue, *e.ci]
        out += [] if e.cuped is None else [e.cuped.theta, e.cuped.reduction]
    for g in r.guardrails:
        out += [g.degradation, *g.ci]
    for s in r.segments:
        out += [s.effect.delta, s.effect.pvalue]
    for t in r.novelty:
        out += [t.slope, t.slope_se, t.pvalue, len(t.days)]
    return out


def test_merge_equals_one_pass() -> None:
    guard = [Guardrail("latency_ms", margin=3.0)]
    whole, left, right = (_new(guardrails=guard, key=KEY) for _ in range(3))
    right.started_at -= 2 * DAY  # a replica that started earlier
    whole.started_at = right.started_at
    rng = np.random.default_rng(55)
    data = [(v, float(rng.normal(1 + 0.1 * (v == "treatment"), 1)), float(rng.normal()),
             i % 3, i % 9) for i in range(4000) for v in ("control", "treatment")]
    for i, (v, y, x, seg, day) in enumerate(data):
        kw = {"covariate": {"score": x, "latency_ms": x}, "segment": "abc"[seg],
              "exposure_day": day, "unit_id": i}
        value = {"score": y, "latency_ms": 40 + y}
        whole.observe(v, value, **kw)  # type: ignore[arg-type]
        (left if i % 3 else right).observe(v, value, **kw)  # type: ignore[arg-type]
    merged = left.merge(right).readout()
    one_pass = whole.readout()
    assert merged.decision == one_pass.decision
    assert _numbers(merged) == pytest.approx(_numbers(one_pass), rel=1e-9, abs=1e-12)


def test_state_shipped_as_json_merges_like_the_replica() -> None:
    import json

    rng = np.random.default_rng(56)
    a, b, ref = _new(), _new(), _new()
    for i in range(3000):
        v = ("control", "treatment")[i % 2]
        y, x = float(rng.normal(1, 1)), float(rng.normal())
        (a if i % 4 < 2 else b).observe(v, y, covariate=x, segment="pq"[i % 2], exposure_day=i % 5)
        ref.observe(v, y, covariate=x, segment="pq"[i % 2], exposure_day=i % 5)
    shipped = json.loads(json.dumps(b.state()))
    merged = a.merge_state(shipped).readout()
    assert _numbers(merged) == pytest.approx(_numbers(ref.readout()), rel=1e-9, abs=1e-12)
    assert len(json.dumps(shipped)) < 10_000


def test_malformed_or_foreign_state_is_refused() -> None:
    good = _new().state()
    with pytest.raises(ConfigurationError, match="cannot merge the state"):
        _new(weights=(2, 1)).merge_state(good)
    for key, bad in (("units", [1]), ("units", [-1, 0]), ("misassigned", "x"),
                     ("started_at", math.nan), ("totals", {}), ("days", {"x": []}),
                     ("segments", {"a": [[1, 0, 0, 0, 0, 0, 0]]})):
        with pytest.raises(ValueError, match="malformed experiment state"):
            _new().merge_state({**good, key: bad})
    with pytest.raises(ValueError, match="mapping"):
        _new().merge_state([])  # type: ignore[arg-type]


def test_merge_refuses_another_experiment() -> None:
    with pytest.raises(ConfigurationError, match="cannot merge"):
        _new().merge(_new(weights=(2, 1)))
    with pytest.raises(ConfigurationError, match="cannot merge"):
        _new().merge(Experiment("other", primary="score", mde=0.1))
    exp = _new()
    with pytest.raises(ValueError, match="into itself"):
        exp.merge(exp)


# -- decisions -------------------------------------------------------------------------------

def test_a_better_treatment_is_found_with_cuped() -> None:
    exp = _new()
    _feed(exp, np.random.default_rng(1), 2500, 0.15)
    r = exp.readout()
    assert r.decision == "treatment_better" and r.winner == "treatment" and not r.stop
    e = r.effects[0]
    assert e.cuped is not None and e.cuped.reduction > 0.3
    assert e.ci[0] < 0.15 < e.ci[1] and r.pvalue < 0.05
    assert r.sample_size is not None and r.sample_size.mde == 0.1


def test_a_worse_treatment_on_a_lower_is_better_metric() -> None:
    exp = _new(primary=Metric("score", higher_is_better=False))
    _feed(exp, np.random.default_rng(2), 2500, 0.15)
    assert exp.readout().decision == "treatment_worse"


def test_no_difference_continues() -> None:
    exp = _new()
    _feed(exp, np.random.default_rng(3), 1000, 0.0)
    r = exp.readout()
    assert r.decision == "continue" and not r.final
    assert r.not_final == "not final: no significant difference yet"


def test_sample_ratio_mismatch_stops() -> None:
    exp = _new()
    rng = np.random.default_rng(4)
    for _ in range(6000):
        exp.observe("control", float(rng.normal()))
    for _ in range(5500):
        exp.observe("treatment", float(rng.normal()))
    r = exp.readout()
    assert r.srm.flagged and r.srm.pvalue < 0.001
    assert r.decision == "stop_srm" and r.stop and "sample ratio mismatch" in r.reason


def test_weighted_split_is_no_mismatch() -> None:
    exp = _new(weights=(0.8, 0.2))
    for i in range(10_000):
        exp.observe("control" if i % 5 else "treatment", 1.0 + (i % 7))
    assert not exp.readout().srm.flagged


def test_several_treatments_are_each_compared_with_control() -> None:
    exp = _new(variants=("control", "small", "big"))
    _feed(exp, np.random.default_rng(5), 2500, 0.0, variants=("control", "small"))
    rng = np.random.default_rng(6)
    for _ in range(2500):
        x = rng.normal()
        exp.observe("big", 1.4 + 0.7 * x + rng.normal(0, 0.7), covariate=x)
    r = exp.readout()
    assert [e.variant for e in r.effects] == ["small", "big"]
    assert all(e.alpha == 0.025 for e in r.effects)
    assert r.decision == "treatment_better" and r.winner == "big"


def test_misassigned_units_are_counted() -> None:
    exp = _new(key=KEY)
    for i in range(200):
        exp.observe(exp.assign(i), 1.0, unit_id=i)
    wrong = [i for i in range(200, 260) if exp.assign(i) == "control"]
    for i in wrong:
        exp.observe("treatment", 1.0, unit_id=i)
    r = exp.readout()
    assert r.misassigned == len(wrong) > 0
    assert "another variant than their unit id's assignment" in r.text()


def test_assign_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="INFERWATCH_EXPERIMENT_KEY"):
        _new().assign("u1")
    assert _new(key=KEY).assign("u1") == ex.assign("u1", "exp", key=KEY)
    monkeypatch.setenv("INFERWATCH_EXPERIMENT_KEY", KEY)
    assert _new().assign("u1") == ex.assign("u1", "exp", key=KEY)
    # A configured but invalid key is an error, not a silently unchecked experiment.
    monkeypatch.setenv("INFERWATCH_EXPERIMENT_KEY", "short")
    with pytest.raises(ConfigurationError, match="at least 32"):
        _new()


def test_concurrent_observations_are_all_counted() -> None:
    exp = _new()

    def work() -> None:
        for i in range(2000):
            exp.observe("control" if i % 2 else "treatment", float(i % 10), segment=str(i % 3))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = exp.readout()
    assert [v.n for v in r.variants] == [4000, 4000]
    assert sum(s.effect.n[0] for s in r.segments) == 4000


def test_text_reads_as_a_report() -> None:
    exp = _new(guardrails=[Guardrail("latency_ms", margin=3.0)])
    _feed(exp, np.random.default_rng(8), 1500, 0.15)
    text = exp.readout().text()
    for expected in ("experiment exp: day 21 of 14", "decision: treatment better",
                     "effect (always valid", "CUPED removed", "sample ratio: ok",
                     "guardrails:", "latency_ms (treatment)", "segments: 3 tested",
                     "novelty/primacy", "fixed-horizon sample size for 80% power"):
        assert expected in text, expected


def test_empty_experiment_reads_cleanly() -> None:
    r = _new().readout()
    assert r.decision == "continue" and r.pvalue == 1.0 and r.ci == (-math.inf, math.inf)
    assert "not enough data yet" in r.text()


def test_exports() -> None:
    # isort order (ruff's RUF022): constants, then classes, then functions.
    assert sorted(ex.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n)) \
        == ex.__all__
    for name in ex.__all__:
        assert getattr(ex, name).__doc__, name
