"""The infrastructure section: this process's CPU and memory, and its GPUs.

Read from the standard library only (``resource``, ``os``, ``/proc`` where
there is one), when a status page or document is asked for, never on the
request path. This stays so without the ``system`` extra (which exports the
same through OpenTelemetry, see :mod:`inferwatch.infra._system`). GPUs are read
through the process's one NVML reader (:func:`inferwatch.infra.gpu_reader`,
shared with the ``inferwatch.gpu.*`` metrics) when ``nvidia-ml-py`` is
installed; no package, no driver or no device is normal and reads as "no GPU"
with the reason, never as an error.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..infra._nvml import GpuReader, gpu_reader

try:  # POSIX only; Windows has no resource module
    import resource
except ImportError:  # pragma: no cover - exercised only on Windows
    resource = None  # type: ignore[assignment]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _rss_bytes() -> int | None:
    """Resident memory now (Linux ``/proc/self/statm``), else None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _max_rss_bytes() -> int | None:
    if resource is None:  # pragma: no cover
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak) if os.uname().sysname == "Darwin" else int(peak) * 1024


def _uptime_seconds() -> float | None:
    """Seconds since this process started (Linux ``/proc``), else None."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            stat = f.read()
        with open("/proc/uptime", encoding="ascii") as f:
            boot_uptime = float(f.read().split()[0])
        # Field 22 (starttime, in clock ticks after boot) counted after the
        # command name, which is in parentheses and may hold spaces.
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return max(0.0, boot_uptime - start_ticks / _TICKS)
    except (OSError, ValueError, IndexError):
        return None


def gpu_devices() -> dict[str, Any]:
    """One read of the GPUs through NVML: ``{"available": bool, "devices": [...], "reason": str}``.

    A one-off (NVML initialised, read and shut down); the status page and the
    metrics read through the process's shared :func:`inferwatch.infra.gpu_reader`.
    """
    reader = GpuReader()
    try:
        return reader.read()
    finally:
        reader.close()


class ProcessSampler:
    """CPU and memory of this process; CPU use is measured between two reads.

    One sampler per status app: ``cpu_percent`` is the share of one core used
    since the previous read (since the process started, on the first). GPUs
    come from ``gpus`` (default: the process's shared NVML reader).
    """

    def __init__(self, *, gpu: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 gpus: GpuReader | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, float] | None = None
        self._gpu = gpu
        self._gpus = gpus  # None: the process's shared reader

    def read(self) -> dict[str, Any]:
        now, cpu = self._clock(), _cpu_seconds()
        uptime = _uptime_seconds()
        with self._lock:
            last, self._last = self._last, (now, cpu)
        if last is not None and now - last[0] > 0.05:
            percent: float | None = 100.0 * (cpu - last[1]) / (now - last[0])
            over = "since the previous read"
        elif uptime:
            percent = 100.0 * cpu / uptime
            over = "since the process started"
        else:
            percent, over = None, ""
        try:
            load: float | None = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = None
        return {
            "pid": os.getpid(),
            "uptime_s": uptime,
            "cpu_seconds": cpu,
            "cpu_percent": percent,
            "cpu_percent_over": over,
            "cpu_count": os.cpu_count(),
            "load_1m": load,
            "rss_bytes": _rss_bytes(),
            "max_rss_bytes": _max_rss_bytes(),
            "threads": threading.active_count(),
            "gpu": (self._gpus or gpu_reader()).read() if self._gpu else {
                "available": False, "devices": [], "reason": "GPU readings turned off"},
        }
