"""Anomaly scores for signals with a rhythm."""

from ._baseline import AnomalyScore, SeasonalBaseline

__all__ = ["AnomalyScore", "SeasonalBaseline"]
