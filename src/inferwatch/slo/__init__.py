"""Service level objectives for models: declared once, budgeted in-process.

::

    import inferwatch
    import inferwatch.slo
    from inferwatch.slo import SLO

    slos = [
        SLO("churn-availability", "availability", 0.999, model="churn"),
        SLO("churn-latency", "latency", 0.99, threshold_ms=300, model="churn"),
    ]
    # or: slos = inferwatch.slo.load_slos("slos.yaml")   (OpenSLO v1)
    tracker = inferwatch.slo.track(slos)          # or inferwatch.configure(slos=slos)
    for budget in tracker.budgets():
        print(budget.text())

Building blocks, one job each: ``_spec`` holds the :class:`SLO` value and its
validation, ``_openslo`` reads OpenSLO v1 YAML, ``_sources`` counts each
kind's good and total events, ``_ring`` and ``_budget`` keep their snapshots
and turn them into a :class:`Budget`, ``_metrics`` exports them and
``_tracker`` wires it all to a :class:`inferwatch.Monitor`.
"""

from ._budget import BURN_WINDOWS, Budget
from ._openslo import load_slos, parse_slos
from ._spec import KINDS, SLO, parse_duration
from ._tracker import SLOTracker, track

__all__ = [
    "BURN_WINDOWS",
    "KINDS",
    "SLO",
    "Budget",
    "SLOTracker",
    "load_slos",
    "parse_duration",
    "parse_slos",
    "track",
]
