"""OpenTelemetry glue for users who build their own MeterProvider.

See ``inferwatch._otel`` for why histograms travel through an exporter wrapper.
"""

from ._otel import InferwatchMetricExporter, wrap_exporter

__all__ = ["InferwatchMetricExporter", "wrap_exporter"]
