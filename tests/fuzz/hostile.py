"""Hostile values for the property tests and fuzzers: any shape, any type, broken objects.

Shared by ``tests/test_properties_*.py`` (hypothesis) and the atheris
harnesses in this folder. Everything here is built by the test suite itself;
nothing is read from outside.

The objects whose dunder methods raise cover both ``Exception`` and the
``BaseException`` subclasses a library might meet (``GeneratorExit``,
``asyncio.CancelledError``, a user-defined one), never ``KeyboardInterrupt``
or ``SystemExit``, which a process is entitled to have propagate.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "DUNDERS",
    "EXCEPTION_TYPES",
    "Hostile",
    "HostileBase",
    "HostileError",
    "HostileMapping",
    "hostile_objects",
    "hostile_settings",
    "make_hostile",
    "model_exceptions",
    "realize",
    "values",
]


class HostileError(Exception):
    """An ordinary exception raised by a hostile object."""


class HostileBase(BaseException):
    """A BaseException that is neither KeyboardInterrupt nor SystemExit."""


#: What a hostile dunder raises.
EXCEPTION_TYPES: tuple[type[BaseException], ...] = (
    HostileError,
    ValueError,
    RecursionError,
    MemoryError,
    HostileBase,
    GeneratorExit,
    asyncio.CancelledError,
)
if os.environ.get("HOSTILE_ONLY_EXCEPTIONS"):  # explore past the BaseException cases
    EXCEPTION_TYPES = tuple(t for t in EXCEPTION_TYPES if issubclass(t, Exception))

#: The dunder methods a hostile object can have raise.
DUNDERS = (
    "__len__",
    "__iter__",
    "__getattr__",
    "__getattribute__",
    "__array__",
    "__repr__",
    "__str__",
    "__format__",
    "__copy__",
    "__deepcopy__",
    "__reduce_ex__",
    "__getitem__",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "__eq__",
    "__hash__",
    "__lt__",
)


def make_hostile(dunders: frozenset[str], exc_type: type[BaseException]) -> Any:
    """An instance of a fresh class whose ``dunders`` raise ``exc_type``."""

    def raiser(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise exc_type("hostile")

    def getattribute(self: Any, name: str) -> Any:
        if name == "__class__":
            return object.__getattribute__(self, name)
        raise exc_type("hostile")

    namespace: dict[str, Any] = {}
    for name in dunders:
        namespace[name] = getattribute if name == "__getattribute__" else raiser
    label = "Hostile_" + "_".join(sorted(d.strip("_") for d in dunders))
    cls = type(label, (), namespace)
    return cls()


class Hostile:
    """A recipe for a hostile or unwieldy value, built by :func:`realize` in the test.

    Strategies yield recipes, not the objects: hypothesis itself calls
    ``repr`` (and more) on what it generates, which a hostile object breaks,
    and a recipe for a huge or deeply nested value keeps failure reports short.
    """

    __slots__ = ("arg", "dunders", "exc_type", "kind")

    def __init__(
        self,
        kind: str,
        dunders: frozenset[str] = frozenset(),
        exc_type: type[BaseException] = HostileError,
        arg: int = 0,
    ) -> None:
        self.kind = kind
        self.dunders = dunders
        self.exc_type = exc_type
        self.arg = arg

    def build(self) -> Any:
        kind = self.kind
        if kind == "object":
            return make_hostile(self.dunders, self.exc_type)
        if kind == "mapping":
            return HostileMapping(self.exc_type)
        if kind == "exception":
            return _unprintable(self.exc_type)
        if kind == "nested":
            return _nested(self.arg)
        if kind == "cycle":
            return _cycle()
        if kind == "wide_row":
            return _wide_row(self.arg)
        if kind == "big_bytes":
            return b"\xff\xfe\x80 not utf-8 " * 100_000
        return _special_array(kind)

    def __repr__(self) -> str:
        if self.kind in ("object", "mapping", "exception"):
            return f"Hostile({self.kind!r}, {sorted(self.dunders)!r}, {self.exc_type.__name__})"
        return f"Hostile({self.kind!r}, arg={self.arg})"


def realize(value: Any) -> Any:
    """``value`` with every :class:`Hostile` recipe in it replaced by the object.

    Only the containers the strategies build are walked (never a built value).
    """
    if isinstance(value, Hostile):
        return value.build()
    if type(value) is list:
        return [realize(v) for v in value]
    if type(value) is tuple:
        return tuple(realize(v) for v in value)
    if type(value) is dict:
        return {k: realize(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = value.copy()
        for index in np.ndindex(out.shape):
            item = out[index]
            if isinstance(item, Hostile):
                out[index] = item.build()
        return out
    return value


class HostileMapping(Mapping[Any, Any]):
    """A Mapping (so ``isinstance(x, Mapping)`` holds) whose every access raises."""

    def __init__(self, exc_type: type[BaseException]) -> None:
        self._exc_type = exc_type

    def __getitem__(self, key: Any) -> Any:
        raise self._exc_type("hostile mapping")

    def __iter__(self) -> Iterator[Any]:
        raise self._exc_type("hostile mapping")

    def __len__(self) -> int:
        raise self._exc_type("hostile mapping")


def _unprintable(exc_type: type[BaseException]) -> BaseException:
    def raiser(self: Any) -> str:
        raise exc_type("unprintable")

    cls = type("Unprintable", (HostileError,), {"__str__": raiser, "__repr__": raiser})
    return cls("x")


def model_exceptions(*, unprintable_base: bool = True) -> st.SearchStrategy[Any]:
    """Exceptions a model might raise (some unprintable, as recipes), or odd types.

    ``unprintable_base=False`` leaves out exceptions whose ``__str__`` raises a
    BaseException (an open defect is tested on its own while it lasts).
    """
    unprintable_types = EXCEPTION_TYPES if unprintable_base else tuple(
        t for t in EXCEPTION_TYPES if issubclass(t, Exception))
    return st.one_of(
        st.builds(HostileError, st.text(max_size=20)),
        st.builds(ValueError, st.text(max_size=300)),
        *([] if os.environ.get("HOSTILE_ONLY_EXCEPTIONS") else [
            st.builds(HostileBase, st.text(max_size=20)),
            st.builds(lambda: GeneratorExit()),
            st.builds(lambda: asyncio.CancelledError()),
        ]),
        st.builds(Hostile, st.just("exception"), st.just(frozenset()),
                  st.sampled_from(unprintable_types)),
        # A dynamically created exception class with an odd, long name.
        st.builds(
            lambda name: type(name, (RuntimeError,), {})("dynamic"),
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
                    max_size=300).filter(str.isidentifier),
        ),
    )


def hostile_objects() -> st.SearchStrategy[Hostile]:
    """Recipes for objects whose dunder methods raise, and for unreadable mappings."""
    return st.one_of(
        st.builds(
            Hostile,
            st.just("object"),
            st.frozensets(st.sampled_from(DUNDERS), min_size=1, max_size=4),
            st.sampled_from(EXCEPTION_TYPES),
        ),
        st.builds(Hostile, st.just("mapping"), st.just(frozenset()),
                  st.sampled_from(EXCEPTION_TYPES)),
    )


def _text() -> st.SearchStrategy[str]:
    # Lone surrogates included: valid in a Python str (and in JSON), not in UTF-8.
    return st.text(st.characters(codec=None), max_size=40)


def _nested(depth: int) -> Any:
    value: Any = 1.0
    for _ in range(depth):
        value = [value]
    return value


def _cycle() -> Any:
    loop: list[Any] = [1.0]
    loop.append(loop)
    return {"self": loop}


_DTYPES = st.one_of(
    hnp.scalar_dtypes(),
    hnp.unicode_string_dtypes(max_len=8),
    hnp.byte_string_dtypes(max_len=8),
    hnp.array_dtypes(max_size=3),
)  # object arrays come with explicit elements below (older hypothesis infers none)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324]),
    st.complex_numbers(),
    _text(),
    st.binary(max_size=40),
    st.builds(bytearray, st.binary(max_size=10)),
    hnp.from_dtype(np.dtype("float64")),
    hnp.from_dtype(np.dtype("float32")),
    hnp.from_dtype(np.dtype("int8")),
    hnp.from_dtype(np.dtype("uint64")),
    hnp.from_dtype(np.dtype("complex64")),
    hnp.from_dtype(np.dtype("datetime64[ns]")),
    st.builds(np.str_, _text()),
    st.builds(np.bytes_, st.binary(max_size=10)),
)


def _arrays() -> st.SearchStrategy[Any]:
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    return st.one_of(
        hnp.arrays(_DTYPES, shapes),
        hnp.arrays(np.dtype(object), shapes, elements=st.one_of(_SCALARS, hostile_objects())),
        st.sampled_from(["empty", "empty2d", "wide", "huge", "nan"]).map(Hostile),
    )


def _wide_row(seed: int) -> dict[str, float]:
    # Built from a seed: hypothesis would spend its whole budget drawing 300 keys.
    rng = np.random.default_rng(seed)
    row = {f"feature_{i}": float(v) for i, v in enumerate(rng.normal(size=300))}
    row["feature_7"] = float("nan")
    return row


def _special_array(kind: str) -> Any:
    if kind == "empty":
        return np.empty(0)
    if kind == "empty2d":
        return np.empty((0, 5))
    if kind == "wide":
        return np.ones((2, 5000), dtype=np.float32)
    if kind == "huge":
        return np.arange(1_000_000, dtype=np.float64)
    return np.full((3, 3), np.nan)


def values(*, hostile: bool = True) -> st.SearchStrategy[Any]:
    """Any value a caller might pass or a model return, nested, with hostile leaves."""
    leaves = st.one_of(_SCALARS, _arrays(), hostile_objects()) if hostile else st.one_of(
        _SCALARS, _arrays()
    )
    keys = st.one_of(_text(), st.integers(), st.none(), st.binary(max_size=5), st.floats(),
                     st.tuples(st.integers()))
    tree = st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.tuples(children, children),
            st.dictionaries(keys, children, max_size=4),
            st.frozensets(st.one_of(st.integers(), _text()), max_size=3),
        ),
        max_leaves=12,
    )
    return st.one_of(
        _SCALARS,
        tree,
        leaves,
        st.builds(Hostile, st.just("nested"), arg=st.integers(1, 3000)),
        st.just(Hostile("cycle")),
        st.builds(Hostile, st.just("wide_row"), arg=st.integers(0, 2**32 - 1)),
        st.just(Hostile("big_bytes")),
    )


def hostile_settings(max_examples: int) -> settings:
    """Bounded, reproducible, database-less settings for a slow, shared machine."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )
