"""The bounded-cardinality cap for the variant (and segment) attribute."""

from __future__ import annotations

import threading

import pytest

from inferwatch import ConfigurationError
from inferwatch.experiments import ValueCap


def test_first_names_kept_then_other() -> None:
    cap = ValueCap(3)
    assert [cap(v) for v in ("a", "b", "c", "d", "a", "e")] == ["a", "b", "c", "_other", "a",
                                                                  "_other"]
    assert cap.names == ("a", "b", "c")
    assert cap.overflowed == 2


def test_reserved_names_always_kept() -> None:
    cap = ValueCap(3, reserved=("control", "treatment"))
    assert cap("x") == "x"
    assert cap("y") == "_other"
    assert cap("treatment") == "treatment"
    with pytest.raises(ConfigurationError, match="exceed the cap"):
        ValueCap(1, reserved=("a", "b"))


def test_non_text_and_pii_names() -> None:
    cap = ValueCap(4)
    assert cap(7) == "7"
    assert cap("bob@example.com") == "_redacted"
    assert cap("alice@example.org") == "_redacted"  # shares the one redacted name
    assert cap("x" * 1000).__len__() <= 256
    assert len(cap.names) == 3


def test_memory_stays_bounded_under_many_distinct_texts() -> None:
    cap = ValueCap(2)
    for i in range(10_000):
        cap(f"user{i}@example.com")
        cap(f"variant-{i}")
    assert len(cap._kept) <= 4 * cap.limit
    assert cap.names == ("_redacted", "variant-0")


def test_threads_never_exceed_the_cap() -> None:
    cap = ValueCap(5)
    seen: list[str] = []

    def work(offset: int) -> None:
        seen.extend(cap(f"v{offset + i}") for i in range(200))

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen) - {"_other"}) == 5


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_bad_cap(limit: object) -> None:
    with pytest.raises(ConfigurationError, match="integer >= 1"):
        ValueCap(limit)  # type: ignore[arg-type]
