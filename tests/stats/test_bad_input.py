import numpy as np
import pytest

from inferwatch.stats import (
    hellinger,
    jensen_shannon,
    jensen_shannon_categorical,
    ks,
    psi,
    psi_categorical,
    wasserstein,
)

NUMERIC = [psi, ks, jensen_shannon, hellinger, wasserstein]


@pytest.mark.parametrize("fn", NUMERIC)
def test_empty_reference(fn: object) -> None:
    with pytest.raises(ValueError, match=r"reference has no finite values \(empty\)"):
        fn([], [1.0, 2.0])  # type: ignore[operator]


@pytest.mark.parametrize("fn", NUMERIC)
def test_all_nan_current(fn: object) -> None:
    with pytest.raises(ValueError, match=r"current has no finite values.*NaN or inf"):
        fn([1.0, 2.0], [np.nan, np.inf])  # type: ignore[operator]


@pytest.mark.parametrize("fn", NUMERIC)
def test_wrong_dims(fn: object) -> None:
    with pytest.raises(ValueError, match="must be 1-D"):
        fn(np.zeros((3, 2)), [1.0])  # type: ignore[operator]


@pytest.mark.parametrize("fn", NUMERIC)
def test_non_numeric(fn: object) -> None:
    with pytest.raises(TypeError, match="numeric"):
        fn(["a", "b"], [1.0])  # type: ignore[operator]


@pytest.mark.parametrize("fn", NUMERIC)
def test_nan_is_dropped_and_counted(fn: object) -> None:
    res = fn([1.0, 2.0, np.nan, 3.0], [1.0, np.inf, 2.0])  # type: ignore[operator]
    assert res.n_dropped == 2


@pytest.mark.parametrize("fn", [psi_categorical, jensen_shannon_categorical])
def test_categorical_empty(fn: object) -> None:
    with pytest.raises(ValueError, match="current has no categories"):
        fn(["a"], [])  # type: ignore[operator]


def test_scalar_is_one_value() -> None:
    assert ks(1.0, [1.0]).statistic == 0.0
