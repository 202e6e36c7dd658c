"""Feedback loops: propensities, holdouts, off-policy estimates and human review.

A model that decides what users see (a ranker, a recommender, a fraud
blocker) shapes the data it is later judged and retrained on. This package
gives the pieces that keep such a loop honest::

    import inferwatch
    import inferwatch.feedback as feedback

    @inferwatch.monitor(model="ranker", version="4", features="x")
    def recommend(user_id, x):
        if feedback.holdout(user_id, 0.05):              # 5 % of users get no model
            inferwatch.set_attribute("feedback.group", "holdout")
            return default_item(x)
        inferwatch.set_attribute("feedback.group", "treated")
        action, p, explored = policy(x)                   # e.g. epsilon-greedy
        feedback.set_propensity(p, explored=explored)     # logged with the record
        return action

    # later, from logged (reward, propensity) and the candidate policy's choices:
    feedback.snips(rewards, propensities, candidate_probabilities).ci_low

    # people label a share of predictions, and the unsure ones:
    reviews = feedback.review(share=0.01, low_confidence=0.6, sink="review.jsonl")
    inferwatch.record_label(inference_id, label, source="review")

Modules, one job each: ``_propensity`` puts the propensity and exploration
flag on the current record, ``_keys`` derives keyed MACs, ``_holdout``
assigns units to the holdout, ``_offpolicy`` computes IPW and SNIPS,
``_groups`` keeps quality per traffic group, ``_review_select`` picks
predictions for review, ``_review`` writes them off the request path and
``_metrics`` declares the metrics.
"""

from ._groups import GroupDifference, GroupQuality, GroupStats
from ._holdout import holdout
from ._offpolicy import OffPolicyStats, PolicyValue, ipw, snips
from ._propensity import set_propensity
from ._review import ReviewSampler, review

__all__ = [
    "GroupDifference",
    "GroupQuality",
    "GroupStats",
    "OffPolicyStats",
    "PolicyValue",
    "ReviewSampler",
    "holdout",
    "ipw",
    "review",
    "set_propensity",
    "snips",
]
