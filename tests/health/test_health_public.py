"""The public names of inferwatch.health and inferwatch.anomaly, and a light import."""

from __future__ import annotations

import subprocess
import sys

import inferwatch.anomaly as anomaly
import inferwatch.health as health


def test_health_names_are_exactly_these() -> None:
    assert len(set(health.__all__)) == len(health.__all__)
    assert set(health.__all__) == {
        "DEFAULT_WEIGHTS", "Assessment", "ComponentScore", "HealthScore", "HealthTracker",
        "ModelVersion", "VersionTracker", "track",
    }


def test_anomaly_names_are_exactly_these() -> None:
    assert len(set(anomaly.__all__)) == len(anomaly.__all__)
    assert set(anomaly.__all__) == {
        "SIGNAL", "SIGNALS", "TRANSFORMS", "AnomalyScore", "AnomalyWatch", "SeasonalBaseline",
        "watch",
    }


def test_importing_them_stays_light() -> None:
    code = ("import sys, inferwatch.health, inferwatch.anomaly; heavy = [m for m in "
            "('pandas', 'scipy', 'pyarrow', 'polars', 'yaml', 'inferwatch.drift') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
