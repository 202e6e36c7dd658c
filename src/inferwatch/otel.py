"""OpenTelemetry glue for users who build their own MeterProvider.

Counters and gauges reach any MeterProvider through observable instruments.
Histograms have no observable form in the OTel SDK, so they join the data on
its way out: wrap your exporter (``wrap_exporter``) or your reader
(``instrument_reader``, which also serves pull readers such as Prometheus).
Each goes out as your exporter or reader prefers for histograms: explicit
buckets, or exponential ones with ``ExponentialBucketHistogramAggregation``.
``add_boundaries`` makes a value (a latency SLO threshold) an exact bucket
boundary of a histogram. See ``inferwatch._otel`` for why.
"""

from ._catalogue import add_boundaries
from ._otel import InferwatchMetricExporter, instrument_reader, wrap_exporter

__all__ = ["InferwatchMetricExporter", "add_boundaries", "instrument_reader", "wrap_exporter"]
