"""Model health: version events and a 0-100 health score per model version."""

from ._versions import ModelVersion, VersionTracker

__all__ = ["ModelVersion", "VersionTracker"]
