"""build_profile: training data -> :class:`ReferenceProfile`."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..sketches import DEFAULT_K, Reservoir
from ._calibrate import calibrate_categorical, calibrate_numeric
from ._columns import (
    Table,
    looks_like_vector,
    looks_numeric,
    to_categorical,
    to_numeric,
    to_vector,
)
from ._feature_profile import (
    CATEGORICAL,
    NUMERIC,
    OUTPUT_KINDS,
    VECTOR,
    Calibration,
    FeatureProfile,
    categorical_profile,
    numeric_profile,
    vector_profile,
)
from ._outputs import infer_output_kind, output_cells, output_matrix_kind
from ._profile import ReferenceProfile
from ._sources import read_table

PREDICTION = "prediction"
CONFIDENCE = "confidence"


def infer_kind(parts: list[Any]) -> str:
    """numeric for numbers, vector for 1-D numeric cells, categorical otherwise."""
    if looks_like_vector(parts) is not None:
        return VECTOR
    return NUMERIC if looks_numeric(parts) else CATEGORICAL


def profile_feature(
    name: str,
    parts: list[Any],
    kind: str,
    *,
    bins: int = 10,
    kll_k: int = DEFAULT_K,
    top_k: int = 64,
    sample_rows: int = 512,
    seed: int = 0,
) -> tuple[FeatureProfile, Any]:
    """One feature's profile and its converted column (kept for calibration)."""
    if kind == NUMERIC:
        num = to_numeric(parts)
        return numeric_profile(name, num, bins=bins, kll_k=kll_k), num
    if kind == CATEGORICAL:
        cat = to_categorical(parts)
        return categorical_profile(name, cat, top_k=top_k), cat
    dim = looks_like_vector(parts) or 1
    vec = to_vector(parts, dim)
    return vector_profile(name, vec, sample_rows=sample_rows, seed=seed), vec


def _output_parts(value: Any, table: Table, n_rows: int, kind: str | None) -> list[Any]:
    if isinstance(value, str):
        if value not in table.parts:
            raise ValueError(
                f"prediction/confidence column {value!r} is not in the data; "
                f"columns are {', '.join(table.names)}"
            )
        return table.column(value)
    arr = np.asarray(value)
    if arr.shape[0] != n_rows:
        raise ValueError(f"got {arr.shape[0]} outputs for {n_rows} rows of data")
    return [output_cells(arr, n_rows, kind)]


def build_profile(
    data: Any,
    *,
    categorical: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    prediction: Any = None,
    confidence: Any = None,
    output_kind: str | None = None,
    importances: Mapping[str, float] | None = None,
    bins: int = 10,
    feature_names: Sequence[str] | None = None,
    kll_k: int = DEFAULT_K,
    top_k: int = 64,
    sample_rows: int = 1024,
    calibrate: bool = True,
    calibration_rows: int | None = None,
    model_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> ReferenceProfile:
    """Profile training data for drift monitoring.

    ::

        profile = inferwatch.drift.build_profile(df, categorical=["country"],
                                                 prediction="score")
        profile.save("churn.iwprofile")

    Args:
        data: a 2-D numpy array, a list of dict rows, a dict of columns, a
            pandas or polars DataFrame, or a path to a CSV or Parquet file.
        categorical: columns to treat as categories even if numeric (codes).
            Non-numeric columns are categorical anyway; columns whose cells
            are 1-D arrays are vector features (embeddings).
        features: the columns to profile (default: all but the outputs).
        prediction, confidence: a column name in ``data`` or an array of the
            model's outputs on the training rows.
        output_kind: probability, score, class or regression (inferred when None).
        importances: feature name -> importance, for the weighted drift score.
        bins: reference quantile bins per numeric feature (deciles by default).
        feature_names: names of a numpy array's columns (default ``f0, f1, ...``).
        sample_rows: rows kept for multivariate tests (MMD), 0 for none.
        calibrate: measure each feature's PSI spread over reference chunks of
            ``calibration_rows`` rows (default min(10000, rows / 10)), used by
            ``DriftMonitor(thresholds="calibrated")``.
    """
    if output_kind is not None and output_kind not in OUTPUT_KINDS:
        raise ValueError(
            f"output_kind must be one of {', '.join(OUTPUT_KINDS)}, got {output_kind!r}"
        )
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    table = read_table(data, feature_names)
    outputs_in_data = {v for v in (prediction, confidence) if isinstance(v, str)}
    names = list(features) if features is not None else [
        n for n in table.names if n not in outputs_in_data
    ]
    unknown = [n for n in [*names, *(categorical or ())] if n not in table.parts]
    if unknown:
        raise ValueError(
            f"column(s) {', '.join(map(repr, unknown))} not found; the data has "
            f"{', '.join(table.names)}"
        )
    cat_set = set(categorical or ())
    profiles: dict[str, FeatureProfile] = {}
    calibration: dict[str, Calibration] = {}
    numeric_cols: dict[str, np.ndarray[Any, Any]] = {}
    for i, name in enumerate(names):
        parts = table.column(name)
        kind = CATEGORICAL if name in cat_set else infer_kind(parts)
        prof, col = profile_feature(
            name, parts, kind, bins=bins, kll_k=kll_k, top_k=top_k, seed=seed + i
        )
        profiles[name] = prof
        if kind == NUMERIC:
            numeric_cols[name] = col.values
        if calibrate:
            cal = (
                calibrate_numeric(prof, col, calibration_rows, seed)  # type: ignore[arg-type]
                if kind == NUMERIC
                else calibrate_categorical(prof, col, calibration_rows, seed)  # type: ignore[arg-type]
                if kind == CATEGORICAL
                else None
            )
            if cal is not None:
                calibration[name] = cal

    outputs: dict[str, FeatureProfile] = {}
    if prediction is not None:
        given = output_kind or output_matrix_kind(prediction)
        parts = _output_parts(prediction, table, table.n_rows, given)
        kind = given or infer_output_kind(to_categorical(parts).values)
        output_kind = str(kind)
        outputs[PREDICTION], _ = profile_feature(
            PREDICTION, parts, CATEGORICAL if kind == "class" else NUMERIC, bins=bins,
            kll_k=kll_k, top_k=top_k,
        )
    if confidence is not None:
        parts = _output_parts(confidence, table, table.n_rows, "probability")
        outputs[CONFIDENCE], _ = profile_feature(
            CONFIDENCE, parts, NUMERIC, bins=bins, kll_k=kll_k
        )

    rows = None
    row_features: tuple[str, ...] = ()
    if sample_rows and numeric_cols:
        row_features = tuple(numeric_cols)
        rows = Reservoir(capacity=sample_rows, n_features=len(row_features), seed=seed)
        rows.update_batch(np.column_stack([numeric_cols[n] for n in row_features]))

    if importances is not None:
        bad = [k for k in importances if k not in profiles]
        if bad:
            raise ValueError(f"importances name unknown feature(s): {', '.join(map(repr, bad))}")
    return ReferenceProfile(
        features=profiles,
        outputs=outputs,
        output_kind=output_kind,
        importances=None if importances is None else {k: float(v) for k, v in importances.items()},
        rows=rows,
        row_features=row_features,
        calibration=calibration,
        n_rows=table.n_rows,
        bins=bins,
        model_name=model_name,
        created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        metadata=dict(metadata or {}),
    )
