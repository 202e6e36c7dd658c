"""Data and prediction drift against a reference profile, from bounded sketches.

::

    import inferwatch.drift

    profile = inferwatch.drift.build_profile(train_df, categorical=["country"],
                                             prediction="score")
    profile.save("churn.iwprofile")            # or: inferwatch profile build ...

    drift = inferwatch.drift.watch("churn.iwprofile", window="count:10000")
    report = drift.report()                    # a DriftReport; .to_dict() for JSON

Building blocks, one job each: ``_sources`` reads training data,
``_columns`` turns rows into per-feature columns, ``_feature_profile`` holds
each feature kind's profile and its part of the file, ``_build`` makes the
:class:`ReferenceProfile` and ``_profile`` stores it in one file,
``_window``/``_windows`` keep live sketches per window, ``_compare`` computes
statistics, ``_decide`` turns them into a status (the decision rule is
documented there), ``_assess`` assembles a :class:`DriftReport`, ``_stream``
keeps one model version's (or A/B variant's) windows and past reports,
``_warmup`` freezes a version's
reference from live rows, ``_contrast`` sets variants side by side,
``_metrics`` exports them and ``_drift_monitor`` wires it all to a
:class:`inferwatch.Monitor`.
"""

from ._build import build_profile
from ._decide import Thresholds
from ._drift_monitor import DriftMonitor, watch
from ._feature_profile import (
    Calibration,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    VectorProfile,
)
from ._profile import ReferenceProfile, load_profile, save_profile
from ._report import DriftReport, FeatureDrift, Quality, Statistic, WindowInfo

__all__ = [
    "Calibration",
    "CategoricalProfile",
    "DriftMonitor",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "NumericProfile",
    "Quality",
    "ReferenceProfile",
    "Statistic",
    "Thresholds",
    "VectorProfile",
    "WindowInfo",
    "build_profile",
    "load_profile",
    "save_profile",
    "watch",
]
