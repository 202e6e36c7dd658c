"""Assignment: deterministic, uniform, keyed, stable across processes, independent."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from scipy import stats as sp

from inferwatch import ConfigurationError
from inferwatch.experiments import ENV_KEY, Assigner, assign, experiment_key

KEY = "hex:" + "3c" * 32
OTHER_KEY = "hex:" + "a7" * 32
N = 100_000


def _counts(assigner: Assigner, n: int = N) -> list[int]:
    c = Counter(assigner(i) for i in range(n))
    return [c[v] for v in assigner.variants]


def test_same_unit_same_variant_every_time() -> None:
    a = Assigner("exp-1", key=KEY)
    first = [a(f"user-{i}") for i in range(1000)]
    assert [a(f"user-{i}") for i in range(1000)] == first
    assert [assign(f"user-{i}", "exp-1", key=KEY) for i in range(1000)] == first
    assert set(first) == {"control", "treatment"}


def test_even_split_is_uniform_by_chi_square() -> None:
    counts = _counts(Assigner("exp-uniform", ("a", "b", "c", "d"), key=KEY))
    stat, p = sp.chisquare(counts)
    assert p > 1e-4, (counts, stat)
    assert all(abs(c - N / 4) < 0.02 * N / 4 for c in counts)


def test_weighted_split_follows_the_weights() -> None:
    a = Assigner("exp-weighted", ("control", "t1", "t2"), weights=(8, 1, 1), key=KEY)
    assert a.weights == pytest.approx((0.8, 0.1, 0.1))
    counts = _counts(a)
    stat, p = sp.chisquare(counts, f_exp=[0.8 * N, 0.1 * N, 0.1 * N])
    assert p > 1e-4, (counts, stat)


def test_the_key_decides_so_clients_cannot_choose() -> None:
    ours = [Assigner("exp", key=KEY)(i) for i in range(4000)]
    theirs = [Assigner("exp", key=OTHER_KEY)(i) for i in range(4000)]
    agree = sum(x == y for x, y in zip(ours, theirs, strict=True)) / 4000
    # Without the key the assignment is a coin flip: half agree, not all.
    assert 0.46 < agree < 0.54


def test_experiments_are_independent() -> None:
    a, b = Assigner("exp-a", key=KEY), Assigner("exp-b", key=KEY)
    table = np.zeros((2, 2))
    for i in range(20_000):
        table[a(i) == "treatment", b(i) == "treatment"] += 1
    _, p, _, _ = sp.chi2_contingency(table, correction=False)
    assert p > 1e-4, table


def test_stable_across_processes() -> None:
    code = ("from inferwatch.experiments import Assigner; a = Assigner('exp-proc', "
            f"('x', 'y', 'z'), key={KEY!r}); print(''.join(a(i) for i in range(300)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"})
    a = Assigner("exp-proc", ("x", "y", "z"), key=KEY)
    assert out.stdout.strip() == "".join(a(i) for i in range(300))


def test_unit_id_types_do_not_collide() -> None:
    a = Assigner("exp-types", key=KEY)
    assert {a.bucket(7), a.bucket("7"), a.bucket(b"7")}.__len__() == 3
    # The experiment name and the unit are length-separated.
    assert Assigner("ab", key=KEY).bucket("c") != Assigner("a", key=KEY).bucket("bc")
    with pytest.raises(TypeError, match="not bool"):
        a(True)
    with pytest.raises(TypeError, match="str, int or bytes"):
        a(1.5)  # type: ignore[arg-type]


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFERWATCH_PII_KEY", raising=False)
    monkeypatch.delenv("INFERWATCH_PII_KEY_FILE", raising=False)
    monkeypatch.setenv(ENV_KEY, KEY)
    assert [assign(i, "exp-env") for i in range(200)] == \
        [assign(i, "exp-env", key=KEY) for i in range(200)]
    monkeypatch.delenv(ENV_KEY)
    monkeypatch.setenv("INFERWATCH_PII_KEY", OTHER_KEY)
    assert experiment_key() == bytes.fromhex("a7" * 32)
    monkeypatch.delenv("INFERWATCH_PII_KEY")
    with pytest.raises(ConfigurationError, match=ENV_KEY):
        assign(1, "exp-env")


def test_bad_configuration_is_explained() -> None:
    with pytest.raises(ConfigurationError, match="5 bytes; at least 32"):
        Assigner("exp", key="short")
    with pytest.raises(ConfigurationError, match="at least two"):
        Assigner("exp", ("only",), key=KEY)
    with pytest.raises(ConfigurationError, match="distinct"):
        Assigner("exp", ("a", "a"), key=KEY)
    with pytest.raises(ConfigurationError, match="one weight per variant"):
        Assigner("exp", ("a", "b"), weights=(1,), key=KEY)
    with pytest.raises(ConfigurationError, match="positive finite"):
        Assigner("exp", ("a", "b"), weights=(1, 0), key=KEY)
    with pytest.raises(ConfigurationError, match="positive finite"):
        Assigner("exp", ("a", "b"), weights=(1, float("nan")), key=KEY)
    with pytest.raises(ConfigurationError, match="non-empty name"):
        Assigner("", key=KEY)
