"""The infrastructure layer: process CPU and memory, GPUs, GPU stage timing, cost.

- ``_system``: this process's CPU and memory through OpenTelemetry's
  system-metrics instrumentation (``system_metrics=True``, the ``system`` extra);
- ``_nvml``: every GPU through NVML, read at collection time
  (``inferwatch.gpu.*``; the ``gpu`` extra), shared with the status page;
- ``_cuda``: ``inferwatch.gpu_stage``, device time from CUDA events resolved
  off the request path;
- ``_cost``: cost per prediction from configured hourly prices;
- ``_attach``: what a monitor's options turn on.

Nothing here imports torch, pynvml or psutil until it is used.
"""

from __future__ import annotations

from ._cost import CostTracker
from ._cuda import gpu_stage
from ._nvml import GpuReader, gpu_reader

__all__ = ["CostTracker", "GpuReader", "gpu_reader", "gpu_stage"]
