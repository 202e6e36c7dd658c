"""Process events: SIGTERM, fork and interpreter exit, for every live monitor."""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import time
from typing import Any

from ._monitor import _live_monitors

__all__ = ["SIGTERM_FLUSH_TIMEOUT", "install_sigterm_handler"]


#: Seconds the SIGTERM handler waits for the final flush of all monitors.
SIGTERM_FLUSH_TIMEOUT = 5.0
_previous_sigterm: Any = None
_sigterm_installed = False


def install_sigterm_handler() -> bool:
    """Flush every monitor's logs and metrics when the process gets SIGTERM.

    Servers such as uvicorn end with SIGTERM re-raised after their graceful
    shutdown, which skips ``atexit``: without this, records still queued and
    every metric since the last export are lost on each rolling deploy. The
    handler flushes (bounded by ``SIGTERM_FLUSH_TIMEOUT``) and then chains to
    the handler it replaced: a Python handler is called, the default action
    is re-raised, an ignored signal stays ignored. Installed once, and only
    from the main thread (``signal`` allows nothing else); returns whether it
    is installed. ``configure()`` calls it unless ``handle_sigterm`` is off.
    """
    global _previous_sigterm, _sigterm_installed
    if _sigterm_installed:
        return True
    import signal

    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        return False
    _start_flusher()
    try:
        _previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, or no signals here
        return False
    _sigterm_installed = True
    return True


# A signal handler runs on the main thread between two of its bytecodes,
# whatever that thread was doing: it may hold any lock (its own thread
# start's, a monitor's), so the handler itself takes none and starts no
# thread (a new thread registers itself under a lock the interrupted thread
# may hold: the handler would wait for it for ever). The flush runs on this
# thread, started beforehand; the handler hands it a job through a queue
# built for signal handlers and waits on an event of its own.
_jobs: queue.SimpleQueue[tuple[float, threading.Event]] = queue.SimpleQueue()
_flusher: threading.Thread | None = None


def _start_flusher() -> None:
    global _flusher
    _flusher = threading.Thread(target=_flush_loop, name="inferwatch-sigterm", daemon=True)
    _flusher.start()


def _flush_loop() -> None:
    while True:
        deadline, done = _jobs.get()
        try:
            for monitor in list(_live_monitors):
                if not monitor._closed:
                    with contextlib.suppress(Exception):  # counted by the monitor
                        monitor._flush_until(deadline, logs=True, export=True)
        finally:
            done.set()


def _on_sigterm(signum: int, frame: Any) -> None:
    import signal

    done = threading.Event()
    flusher = _flusher
    if flusher is not None and flusher.is_alive():
        _jobs.put((time.monotonic() + SIGTERM_FLUSH_TIMEOUT, done))
        done.wait(SIGTERM_FLUSH_TIMEOUT + 0.5)
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:  # the default action (or one set outside Python): end as if unhandled
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _after_fork_in_child() -> None:
    from . import _process

    # A lock another thread of the parent held at fork time stays held in the
    # child forever: every lock is made anew.
    # (Monitors and the other components reset themselves: see _forks.)
    _process._default_lock = threading.Lock()
    global _jobs
    _jobs = queue.SimpleQueue()  # a job the parent's flusher had not taken is the parent's
    if _sigterm_installed:
        _start_flusher()  # the parent's flusher thread does not exist here


def _shutdown_all() -> None:
    for monitor in list(_live_monitors):
        with contextlib.suppress(Exception):  # interpreter exit: nowhere left to report
            monitor.shutdown(timeout=2.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown_all)
