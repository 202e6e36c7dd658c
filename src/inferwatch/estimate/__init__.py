"""Model quality estimated before labels arrive (label-free performance estimation).

::

    import inferwatch.estimate as estimate
    import inferwatch.labels

    calibrator = estimate.Calibrator.fit(ref_proba, ref_labels, positive=1)  # labelled ref
    calibrator.attach(profile)                        # kept in the reference profile file
    inferwatch.labels.track(task="classification", positive=1, window="count:1000",
                            estimator=estimate.CBPE(calibrator))

    # or by hand, on any window of live probabilities:
    estimate.CBPE(calibrator).estimate(live_proba)["f1"]     # Band(value, lower, upper)

Classifiers: :class:`CBPE` (confidence-based performance estimation, in the
manner of NannyML's) from a :class:`Calibrator` fitted on labelled reference
data (isotonic regression or histogram binning): accuracy, precision,
recall, F1 and ROC AUC for binary tasks, accuracy for multiclass ones.
Regressors: :class:`DLE` (direct loss estimation) from a :class:`LossModel`
of the reference's errors: MAE and RMSE. Each measure comes with the band in
which the realised value of the same rows should fall (:class:`Band`).

Valid under covariate shift only: the inputs may move, but the chance of the
label given the model's output must stay what the labelled reference showed
(so calibrate on data like production before the shift). Under concept drift
the estimate is wrong without knowing it; once labels arrive, the realised
value leaving the band is the signal (the label tracker flags it).

Modules, one job each: ``_check`` checks arrays, ``_isotonic`` is
pool-adjacent-violators, ``_binning`` histogram binning, ``_calibrator`` the
fitted map and its storage, ``_expected`` the expected confusion matrix and
AUC, ``_simulate`` the simulated windows behind a band, ``_band`` the result,
``_cbpe`` and ``_dle`` the estimators, ``_loss_model`` the regression error
model, ``_recent`` and ``_tracking`` the label tracker's wiring, ``_metrics``
the exported gauges. numpy only.
"""

from ._band import Band, Estimate
from ._calibrator import Calibrator
from ._cbpe import CBPE
from ._dle import DLE
from ._loss_model import LossModel

__all__ = ["CBPE", "DLE", "Band", "Calibrator", "Estimate", "LossModel"]
