"""The label, quality and outcome metrics in the catalogue.

Series are bounded by the tracker: at most ``MAX_SERIES`` (model, version,
variant) series, two label sources, the configured windows, ten reliability
bins and sixteen outcome names. Dimensionless gauges use curly-brace units
(``{ratio}``, ``{nat}``, ``{score}``) so their Prometheus names are the same
through OTel's Prometheus exporter and through the Collector (see
``inferwatch._catalogue``); MAE and RMSE are in the prediction's own unit,
which inferwatch cannot know (``{value}``).
"""

from __future__ import annotations

from .._catalogue import VARIANT, MetricDef, register

__all__ = [
           "BIN",
           "DELAY_BOUNDS",
           "DROP_REASONS",
           "ESTIMATOR",
           "METRIC_NAMES",
           "OUTCOME_NAME",
           "RESULT",
           "SOURCE",
           "VARIANT",
           "WINDOW",
]

SOURCE = "inferwatch.labels.source"
RESULT = "inferwatch.labels.result"
WINDOW = "inferwatch.quality.window"
BIN = "inferwatch.quality.bin"
OUTCOME_NAME = "inferwatch.outcome.name"
ESTIMATOR = "inferwatch.policy.estimator"

_M = ("model.name", "model.version", VARIANT)
_Q = (*_M, SOURCE, WINDOW)

#: Measure (as the summary names it) -> metric name, where they differ (no digits in
#: metric names: the README table and dashboards match ``[a-z_.]``).
METRIC_NAMES = {"f1": "inferwatch.quality.f_score", "macro_f1": "inferwatch.quality.macro_f_score"}

#: Label delay buckets: a second to a month.
DELAY_BOUNDS: tuple[float, ...] = (
    1, 10, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400,
    7 * 86400, 14 * 86400, 30 * 86400,
)

_RATIO_MEASURES = {
    "accuracy": "Share of the window's joined predictions whose class was the label.",
    "precision": "Share of positive predictions whose label was positive (binary tasks; "
                 "absent with no positive prediction).",
    "recall": "Share of positive labels predicted positive (binary tasks; absent with no "
              "positive label).",
    "f_score": "F1 score of the positive class (binary tasks).",
    "macro_f_score": "Unweighted mean F1 score over the classes seen (multiclass tasks).",
    "roc_auc": "Area under the ROC curve of the positive-class probability (binary tasks; "
               "absent with one class only).",
    "ece": "Expected calibration error over ten equal-width probability bins.",
    "mape": "Mean absolute percentage error, as a ratio (regression).",
}

register(
    MetricDef("inferwatch.labels.received", "counter", "{label}",
              "Labels processed by result: joined, duplicate (a second label of the same "
              "source for one prediction, ignored), no_prediction (no stored prediction had "
              "the id: counted, not an error) or ambiguous (several models' predictions share "
              "the id and the label named no model).", (SOURCE, RESULT)),
    MetricDef("inferwatch.labels.joined", "counter", "{label}",
              "Labels joined to a stored prediction.", (*_M, SOURCE)),
    MetricDef("inferwatch.labels.join_rate", "gauge", "{ratio}",
              "Share of the predictions stored in this process that have been joined to a "
              "label of this source.", (*_M, SOURCE)),
    MetricDef("inferwatch.labels.delay", "histogram", "s",
              "Time from a prediction to its label.", (*_M, SOURCE), DELAY_BOUNDS),
    MetricDef("inferwatch.labels.store.entries", "updown", "{prediction}",
              "Predictions waiting in the label store now.", ()),
    MetricDef("inferwatch.quality.pairs", "gauge", "{pair}",
              "Joined pairs in the quality window.", _Q),
    *(MetricDef(f"inferwatch.quality.{name}", "gauge", "{ratio}", text, _Q)
      for name, text in _RATIO_MEASURES.items()),
    MetricDef("inferwatch.quality.log_loss", "gauge", "{nat}",
              "Mean cross-entropy of the positive-class probability (binary tasks).", _Q),
    MetricDef("inferwatch.quality.brier", "gauge", "{score}",
              "Brier score: mean squared gap between the positive-class probability and the "
              "label (binary tasks).", _Q),
    MetricDef("inferwatch.quality.mae", "gauge", "{value}",
              "Mean absolute error, in the prediction's unit (regression).", _Q),
    MetricDef("inferwatch.quality.rmse", "gauge", "{value}",
              "Root mean squared error, in the prediction's unit (regression).", _Q),
    MetricDef("inferwatch.quality.reliability", "gauge", "{ratio}",
              "Observed frequency of the outcome in a probability bin (the bin's upper "
              "bound), for a reliability diagram.", (*_Q, BIN)),
    MetricDef("inferwatch.quality.reliability.pairs", "gauge", "{pair}",
              "Joined pairs in a probability bin.", (*_Q, BIN)),
    MetricDef("inferwatch.outcome.events", "counter", "{event}",
              "Business outcomes joined to a prediction.", (*_M, OUTCOME_NAME)),
    MetricDef("inferwatch.outcome.value", "updown", "{value}",
              "Sum of the joined outcomes' values.", (*_M, OUTCOME_NAME)),
    MetricDef("inferwatch.outcome.rate", "gauge", "{ratio}",
              "Share of the predictions stored in this process with at least one outcome "
              "of this name.", (*_M, OUTCOME_NAME)),
    MetricDef("inferwatch.outcome.received", "counter", "{event}",
              "Outcomes processed by result (joined, no_prediction, ambiguous).",
              (OUTCOME_NAME, RESULT)),
    MetricDef("inferwatch.policy.decisions", "counter", "{decision}",
              "Calls that logged a propensity whose reward horizon has passed (the "
              "denominator of the IPW estimate; the outcome name is the reward).",
              (*_M, OUTCOME_NAME)),
    MetricDef("inferwatch.policy.weight", "counter", "{weight}",
              "Sum of the matured decisions' weights, target probability over propensity "
              "(the denominator of the SNIPS estimate).", (*_M, OUTCOME_NAME)),
    MetricDef("inferwatch.policy.weighted_reward", "updown", "{value}",
              "Sum of weight times reward over the matured decisions (the numerator of "
              "both estimates; sum it across replicas and divide for the fleet's).",
              (*_M, OUTCOME_NAME)),
    MetricDef("inferwatch.policy.value", "gauge", "{value}",
              "The evaluated policy's estimated mean reward in this process, by estimator "
              "(ipw, snips).", (*_M, OUTCOME_NAME, ESTIMATOR)),
    MetricDef("inferwatch.policy.value.stderr", "gauge", "{value}",
              "Standard error of the policy-value estimate, by estimator.",
              (*_M, OUTCOME_NAME, ESTIMATOR)),
    MetricDef("inferwatch.policy.rewards", "counter", "{event}",
              "Reward outcomes by what became of them: counted, late (after the decision's "
              "horizon: left out) or unlogged (the call logged no propensity).",
              (OUTCOME_NAME, RESULT)),
)

#: Reasons this package adds to ``inferwatch.self.dropped`` (for the README).
DROP_REASONS = (
    "label_store_evicted_entries", "label_store_evicted_age", "label_store_batch_record",
    "label_store_unreadable_prediction", "labels_queue_full", "quality_series_full",
    "label_store_unavailable", "label_store_queue_full", "label_store_lookup_unavailable",
    "policy_buckets_full", "policy_series_full",
)
