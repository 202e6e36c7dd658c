"""Service level objectives for models: declared once, budgeted in-process.

::

    import inferwatch
    from inferwatch.slo import SLO

    slos = [
        SLO("churn-availability", "availability", 0.999, model="churn"),
        SLO("churn-latency", "latency", 0.99, threshold_ms=300, model="churn"),
    ]
    # or: slos = inferwatch.slo.load_slos("slos.yaml")   (OpenSLO v1)

``_spec`` holds the :class:`SLO` value and its validation, ``_openslo`` reads
OpenSLO v1 YAML.
"""

from ._openslo import load_slos, parse_slos
from ._spec import KINDS, SLO, parse_duration

__all__ = ["KINDS", "SLO", "load_slos", "parse_duration", "parse_slos"]
