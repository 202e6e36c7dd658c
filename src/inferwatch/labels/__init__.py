"""Ground truth: delayed labels and business outcomes joined to the predictions
they belong to, and the model quality they show.

::

    import inferwatch
    import inferwatch.labels

    inferwatch.labels.track(task="classification", positive=1, window=["count:1000", "1h"])

    @inferwatch.monitor(model="fraud", version="7", confidence=lambda p: p)
    def predict(x): ...

    # days later, wherever the label turns up (a batch job, a webhook):
    inferwatch.record_label(inference_id, 1)
    inferwatch.record_outcome(inference_id, "chargeback", 120.0)

Predictions are stored on the aggregator thread (never on the request path)
in a bounded store keyed by inference id, holding only what the metrics
need (never features or PII); labels are queued by the caller and joined
after each drain. Quality per model, version and variant over count and
time windows is exported as ``inferwatch.quality.*``, the join itself as
``inferwatch.labels.*``, outcomes as ``inferwatch.outcome.*``, and all of it
is in ``Monitor.summary()["labels"]`` and the status page.

Modules, one job each: ``_validate`` checks arguments, ``_task`` reads a
prediction for the task, ``_extract`` turns records into store entries,
``_store`` is the store and its protocol, ``_redis_store`` the shared
one in Redis, ``_join`` matches labels to entries, ``_pairs`` keeps joined
pairs in a ring, ``_classification``,
``_regression`` and ``_calibration`` compute the measures, ``_quality``
assembles a window's, ``_outcomes`` totals outcomes, ``_metrics`` and
``_points`` export them, ``_tracker`` wires it to a monitor, ``_lagging`` sets drift windows beside
the quality their labels showed, ``_body``
reads the HTTP route's body and ``_cli`` is ``inferwatch labels load``.
"""

from .._record_label import record_label, record_labels, record_outcome
from ._health import quality_component
from ._lagging import drift_before_quality
from ._redis_store import RedisStore
from ._store import MemoryStore, PredictionStore, StoredPrediction
from ._task import NEGATIVE, TASKS
from ._tracker import LabelTracker, track
from ._validate import SOURCES

__all__ = [
    "NEGATIVE",
    "SOURCES",
    "TASKS",
    "LabelTracker",
    "MemoryStore",
    "PredictionStore",
    "RedisStore",
    "StoredPrediction",
    "drift_before_quality",
    "quality_component",
    "record_label",
    "record_labels",
    "record_outcome",
    "track",
]
