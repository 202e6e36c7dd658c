"""GPUs through NVML, read at collection time: one reader per process, initialised once.

``nvidia-ml-py`` (``pip install 'inferwatch[gpu]'``, module ``pynvml``) is
imported and ``nvmlInit`` called on the first read, never at import and never
on the request path; the library stays initialised (an init/shutdown pair per
read costs far more than the read) and is initialised anew in a forked child.
A full read of the four readings costs about 15 µs per device on a real GPU
(../ANCHORS.md), so it happens when metrics are collected or the status page
is drawn.

No package, no driver or no device is normal: the reader says why in
``read()["reason"]`` and yields no metric points; nothing is logged. A reading
a device does not support (``NVMLError_NotSupported``, power on some boards)
is left out from then on; any other failed reading is left out of that read
only.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable
from typing import Any

from .. import _forks
from .._catalogue import MetricDef, MetricPoint, register

__all__ = ["GPU_INDEX", "GPU_NAME", "GpuReader", "gpu_reader"]

#: Attribute keys of the GPU metrics: NVML's device index (PCI bus order, which
#: is CUDA's only with CUDA_DEVICE_ORDER=PCI_BUS_ID) and the device's name.
GPU_INDEX = "inferwatch.gpu.index"
GPU_NAME = "inferwatch.gpu.name"
_DEVICE = (GPU_INDEX, GPU_NAME)

register(
    MetricDef("inferwatch.gpu.utilization", "gauge", "{ratio}",
              "Share of the last NVML sample period (1/6 s to 1 s) in which a kernel ran on "
              "the GPU, any process's (read at collection time).", _DEVICE),
    MetricDef("inferwatch.gpu.memory.used", "gauge", "By",
              "GPU memory in use, every process's (NVML).", _DEVICE),
    MetricDef("inferwatch.gpu.memory.total", "gauge", "By",
              "GPU memory installed (NVML).", _DEVICE),
    MetricDef("inferwatch.gpu.temperature", "gauge", "Cel",
              "GPU core temperature (NVML).", _DEVICE),
    MetricDef("inferwatch.gpu.power", "gauge", "W",
              "GPU power draw (NVML), absent where the board does not report it.", _DEVICE),
)

#: reading key -> how to read it from (pynvml, handle).
_READINGS: dict[str, Callable[[Any, Any], Any]] = {
    "utilization": lambda nvml, h: nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0,
    "memory": lambda nvml, h: nvml.nvmlDeviceGetMemoryInfo(h),
    "temperature_c": lambda nvml, h: nvml.nvmlDeviceGetTemperature(
        h, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)),
    "power_w": lambda nvml, h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
}

NO_PACKAGE = "no GPU support installed (pip install nvidia-ml-py)"
NO_DRIVER = "no NVIDIA driver"
NO_DEVICE = "no GPU"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _not_supported(nvml: Any, exc: BaseException) -> bool:
    cls = getattr(nvml, "NVMLError_NotSupported", None)
    return isinstance(cls, type) and isinstance(exc, cls)


class _Device:
    __slots__ = ("attributes", "handle", "index", "name", "unsupported")

    def __init__(self, index: int, handle: Any, name: str) -> None:
        self.index = index
        self.handle = handle
        self.name = name
        self.attributes = {GPU_INDEX: str(index), GPU_NAME: name}
        #: Readings the device answered NotSupported to: never asked again.
        self.unsupported: set[str] = set()


class GpuReader:
    """Every GPU NVML sees, read on demand; safe from any thread.

    ``import_module`` is how ``pynvml`` is found (tests pass a fake). NVML is
    initialised on the first ``read()`` and kept; after a failed start (no
    package, no driver) the reader stays unavailable, with the reason, for
    the life of the process (a forked child tries again).
    """

    def __init__(self, import_module: Callable[[str], Any] = importlib.import_module) -> None:
        self._import = import_module
        self._lock = threading.Lock()
        self._started = False
        self._nvml: Any = None
        self._devices: list[_Device] = []
        self.reason = ""
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        # NVML's state belongs to the parent: the child initialises its own.
        self._lock = threading.Lock()
        self._started = False
        self._nvml = None
        self._devices = []
        self.reason = ""

    def _start(self) -> None:
        """Import and initialise NVML and list the devices, once (lock held)."""
        self._started = True
        try:
            nvml = self._import("pynvml")
        except ImportError:
            self.reason = NO_PACKAGE
            return
        try:
            nvml.nvmlInit()
        except Exception:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: normal
            self.reason = NO_DRIVER
            return
        self._nvml = nvml  # initialised: kept (and shut down by close())
        devices = []
        try:
            for index in range(int(nvml.nvmlDeviceGetCount())):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                try:
                    name = _text(nvml.nvmlDeviceGetName(handle))
                except Exception:
                    name = f"GPU {index}"
                devices.append(_Device(index, handle, name))
        except Exception:
            self.reason = "NVML could not list the devices"
            return
        if not devices:
            self.reason = NO_DEVICE
            return
        self._devices = devices
        self.reason = ""

    def close(self) -> None:
        """Shut NVML down for this reader (a one-off read); the shared reader is never closed."""
        with self._lock:
            nvml, self._nvml, self._devices = self._nvml, None, []
            self._started, self.reason = True, "closed"
        if nvml is not None:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()

    @property
    def available(self) -> bool:
        """Whether a device can be read (starting NVML if it was not yet)."""
        with self._lock:
            if not self._started:
                self._start()
            return bool(self._devices)

    def read(self) -> dict[str, Any]:
        """``{"available": bool, "devices": [...], "reason": str}``, as the status page shows.

        Each device: ``index``, ``name``, ``utilization`` (0-1),
        ``memory_used_bytes``, ``memory_total_bytes``, ``temperature_c`` and
        ``power_w``, None where it could not be read.
        """
        with self._lock:
            if not self._started:
                self._start()
            nvml, devices = self._nvml, list(self._devices)
            reason = self.reason
        if not devices:
            return {"available": False, "devices": [], "reason": reason}
        return {"available": True, "devices": [self._read(nvml, d) for d in devices],
                "reason": ""}

    @staticmethod
    def _read(nvml: Any, device: _Device) -> dict[str, Any]:
        out: dict[str, Any] = {"index": device.index, "name": device.name}
        for key, read in _READINGS.items():
            value: Any = None
            if key not in device.unsupported:
                try:
                    value = read(nvml, device.handle)
                except Exception as exc:
                    if _not_supported(nvml, exc):
                        device.unsupported.add(key)
                    value = None
            if key == "memory":
                out["memory_used_bytes"] = None if value is None else int(value.used)
                out["memory_total_bytes"] = None if value is None else int(value.total)
            else:
                out[key] = None if value is None else float(value)
        return out

    def points(self) -> list[MetricPoint]:
        """The GPU gauges of every device, for a collection (none without a GPU)."""
        reading = self.read()
        points: list[MetricPoint] = []
        for device in reading["devices"]:
            attrs = {GPU_INDEX: str(device["index"]), GPU_NAME: device["name"]}
            for key, name in (("utilization", "inferwatch.gpu.utilization"),
                              ("memory_used_bytes", "inferwatch.gpu.memory.used"),
                              ("memory_total_bytes", "inferwatch.gpu.memory.total"),
                              ("temperature_c", "inferwatch.gpu.temperature"),
                              ("power_w", "inferwatch.gpu.power")):
                value = device.get(key)
                if value is not None:
                    points.append(MetricPoint(name, dict(attrs), value))
        return points

    def utilizations(self) -> list[float]:
        """Each device's utilisation now (0-1; a device that did not answer counts 0)."""
        return [d.get("utilization") or 0.0 for d in self.read()["devices"]]


_default: GpuReader | None = None
_default_lock = threading.Lock()


def gpu_reader() -> GpuReader:
    """The process's one GPU reader (metrics, cost and the status page share it)."""
    global _default
    reader = _default
    if reader is None:
        with _default_lock:
            if _default is None:
                _default = GpuReader()
            reader = _default
    return reader
