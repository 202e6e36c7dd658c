"""A/B tests of models: assignment, always-valid statistics and a readout.

::

    from inferwatch.experiments import Experiment, Guardrail, Metric, assign

    variant = assign(user_id, "ranker-v7")                 # keyed, deterministic
    exp = Experiment("ranker-v7", primary=Metric("conversion", kind="proportion"),
                     guardrails=[Guardrail("latency_ms", margin=5.0)], mde=0.01)
    exp.observe(variant, {"conversion": 1, "latency_ms": 38.0}, exposure_day=2)
    print(exp.readout().text())

Building blocks, one job each: ``_assign`` (keyed assignment),
``_cardinality`` (the ``_other`` cap on variant and segment names),
``_moments`` (mergeable sufficient statistics), ``_msprt`` (the
always-valid test and confidence sequence), ``_cuped``, ``_sample_size``,
``_srm``, ``_guardrails``, ``_segments``, ``_novelty``, and ``_experiment``
with ``_readout`` tying them together. The runtime needs numpy only.
"""

from ._assign import ENV_KEY, Assigner, assign, experiment_key
from ._cardinality import ValueCap
from ._compare import Effect, compare
from ._cuped import Cuped, cuped
from ._experiment import Experiment
from ._guardrails import GuardrailResult, check_guardrail
from ._metric import Guardrail, Metric
from ._moments import Moments
from ._msprt import log_likelihood_ratio, mixture_interval, mixture_pvalue
from ._normal import norm_cdf, norm_ppf, norm_sf
from ._novelty import NoveltyResult, novelty
from ._readout import DECISIONS, Readout, VariantSummary
from ._sample_size import SampleSize, sample_size
from ._segments import SegmentResult, segment_results
from ._srm import SRM_THRESHOLD, SRMResult, srm_test
from ._watch import ExperimentWatch, watch

__all__ = [
    "DECISIONS",
    "ENV_KEY",
    "SRM_THRESHOLD",
    "Assigner",
    "Cuped",
    "Effect",
    "Experiment",
    "ExperimentWatch",
    "Guardrail",
    "GuardrailResult",
    "Metric",
    "Moments",
    "NoveltyResult",
    "Readout",
    "SRMResult",
    "SampleSize",
    "SegmentResult",
    "ValueCap",
    "VariantSummary",
    "assign",
    "check_guardrail",
    "compare",
    "cuped",
    "experiment_key",
    "log_likelihood_ratio",
    "mixture_interval",
    "mixture_pvalue",
    "norm_cdf",
    "norm_ppf",
    "norm_sf",
    "novelty",
    "sample_size",
    "segment_results",
    "srm_test",
    "watch",
]
