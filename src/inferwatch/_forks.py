"""One place that makes inferwatch's objects safe in a forked child.

A lock another thread of the parent held at fork time stays held in the
child for ever, and counts, snapshots and threads belong to the parent. An
object with such state registers here and gets ``_after_fork_in_child()``
called in every child (gunicorn, ``uvicorn --workers``), where it makes its
locks anew and forgets what was the parent's. Held weakly: registering keeps
nothing alive.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import Any, Protocol

__all__ = ["ForkAware", "register"]


class ForkAware(Protocol):
    def _after_fork_in_child(self) -> None: ...


_registered: weakref.WeakSet[Any] = weakref.WeakSet()


def register(obj: ForkAware) -> None:
    """Call ``obj._after_fork_in_child()`` in each forked child from now on."""
    _registered.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_registered):
        with contextlib.suppress(Exception):  # one object's bug must not spoil the rest
            obj._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
