"""inferwatch: monitoring for model inference servers.

Decorate a predict function (or add one middleware) and get, for a couple of
microseconds per call, structured per-inference logs, service SLIs and model
signals, exported over OpenTelemetry::

    import inferwatch

    inferwatch.configure(service_name="churn-api")

    @inferwatch.monitor(model="churn", version="3", features="x")
    def predict(x):
        return model.predict_proba(x)[:, 1]
"""

from __future__ import annotations

from ._capture import current_record, monitor, set_attribute, set_attributes, stage
from ._errors import ConfigurationError, InferwatchError, MissingDependencyError
from ._monitor import Monitor
from ._process import configure, get_monitor, set_monitor
from ._record import InferenceRecord
from ._record_label import record_label, record_labels, record_outcome
from .infra import gpu_stage

__version__ = "0.2.0"

__all__ = [
    "ConfigurationError",
    "InferenceRecord",
    "InferwatchError",
    "MissingDependencyError",
    "Monitor",
    "__version__",
    "configure",
    "current_record",
    "get_monitor",
    "gpu_stage",
    "monitor",
    "record_label",
    "record_labels",
    "record_outcome",
    "set_attribute",
    "set_attributes",
    "set_monitor",
    "stage",
]
