"""The feedback package's metric definitions (registered on import, as drift's are)."""

from __future__ import annotations

from .._catalogue import MetricDef, register

__all__ = ["REVIEW_DECISION", "REVIEW_RECORDS", "REVIEW_RULE"]

REVIEW_RECORDS = "inferwatch.review.records"
REVIEW_RULE = "inferwatch.review.rule"
REVIEW_DECISION = "inferwatch.review.decision"

register(
    MetricDef(REVIEW_RECORDS, "counter", "{record}",
              "Predictions picked for human review, by rule (share, low_confidence) and "
              "decision (kept, rate_limited); losses after that are in inferwatch.self.dropped "
              "(reasons review_*).", (REVIEW_RULE, REVIEW_DECISION)),
)
