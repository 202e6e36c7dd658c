"""The process default monitor: built on first use, replaced by ``configure``."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ._lifecycle import install_sigterm_handler
from ._monitor import Monitor

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._config import MonitorOptions

__all__ = ["add_default_listener", "configure", "get_monitor", "set_monitor"]


_default: Monitor | None = None
_default_lock = threading.Lock()


def get_monitor() -> Monitor:
    """The process default monitor, built from the environment on first use."""
    mon = _default
    if mon is not None:
        return mon
    with _default_lock:
        if _default is None:
            set_monitor(Monitor())
        return cast(Monitor, _default)


_default_listeners: list[Callable[[Monitor | None], None]] = []


def add_default_listener(listener: Callable[[Monitor | None], None]) -> None:
    """Call ``listener(monitor)`` each time the process default is replaced.

    For components that follow the default (``inferwatch.drift.watch``
    without a monitor). It runs with the default's lock held: it must not
    call ``get_monitor``. A listener that raises is counted, never propagated.
    """
    _default_listeners.append(listener)


def follow_default(owner: Any, switch: Callable[[Any, Monitor | None], None]) -> None:
    """Call ``switch(owner, monitor)`` each time the process default is replaced,
    for as long as ``owner`` lives (it is held weakly); listening starts once per
    owner (``owner._listening``). The drift monitor, the SLO and label trackers
    follow the default this way when they are given no monitor."""
    if getattr(owner, "_listening", False):
        return
    owner._listening = True
    ref = weakref.ref(owner)

    def on_default(new: Monitor | None) -> None:
        alive = ref()
        if alive is not None:
            switch(alive, new)

    add_default_listener(on_default)


def set_monitor(monitor: Monitor | None) -> Monitor | None:
    """Replace the process default monitor; returns the previous one (not shut down)."""
    global _default
    previous, _default = _default, monitor
    if monitor is not previous:
        for listener in list(_default_listeners):
            try:
                listener(monitor)
            except BaseException:
                if monitor is not None:
                    monitor.count_error("default_listener")
    return previous


def configure(
    *,
    meter_provider: Any = None,
    log_sink: Any = None,
    logger_provider: Any = None,
    environ: Mapping[str, str] | None = None,
    log_processors: Sequence[Callable[[Any, str, dict[str, Any]], Any]] = (),
    slos: Any = None,
    **options: Unpack[MonitorOptions],
) -> Monitor:
    """Build the process default monitor from options and the environment.

    ::

        inferwatch.configure(service_name="churn-api", feature_sample_rate=0.05,
                             pii_fields=["email", "user_id"])

    Functions decorated before this call report to the new monitor from their
    next call on. The previous default is flushed and shut down. Options are
    typed (``MonitorOptions``), so a type checker flags a misspelt one; at run
    time an unknown or invalid option raises ``ConfigurationError``.
    ``slos`` (a list of ``inferwatch.slo.SLO`` or an OpenSLO file's path) is
    ``inferwatch.slo.track(slos, monitor)`` on the new monitor.
    """
    tracked = None
    if slos is not None:
        from .slo import SLOTracker

        tracked = SLOTracker(slos)  # an invalid spec raises before anything changes
    monitor = Monitor(meter_provider=meter_provider, log_sink=log_sink,
                      logger_provider=logger_provider, environ=environ,
                      log_processors=log_processors, **options)
    with _default_lock:
        previous = set_monitor(monitor)
    if tracked is not None:
        tracked.attach(monitor)
    if previous is not None:
        previous.shutdown()
    if monitor.config.handle_sigterm:
        install_sigterm_handler()
    return monitor
