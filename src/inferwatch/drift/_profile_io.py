"""The profile file: one zip archive, a JSON manifest plus framed sketch bytes.

Layout (format ``inferwatch.profile``, version 1)::

    manifest.json              format, version, rows, bins, outputs kind,
                               importances, calibration, metadata and one
                               entry per feature: name, kind, counts, moments
                               and the archive members holding its sketches
    features/<i>.binned        BinnedCounts (frozen reference bins + counts)
    features/<i>.kll           KLLSketch
    features/<i>.topk          TopKCounts
    features/<i>.reservoir     Reservoir (vector features)
    outputs/<i>.*              the same for prediction and confidence
    rows.reservoir             row sample of the numeric features (MMD)

Members are named by position, never by feature name, so any name is safe.
Every sketch carries its own versioned, checksummed frame; the manifest's
``version`` changes only when the layout does, and a reader refuses a newer
version with a message to upgrade instead of misreading it.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from typing import Any

import numpy as np

from ..sketches import BinnedCounts, KLLSketch, Reservoir, TopKCounts
from ._profile import (
    CATEGORICAL,
    NUMERIC,
    VECTOR,
    Calibration,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
    ReferenceProfile,
    VectorProfile,
)

FORMAT = "inferwatch.profile"
VERSION = 1
MANIFEST = "manifest.json"


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _unnum(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _write_feature(
    zf: zipfile.ZipFile, prefix: str, i: int, prof: FeatureProfile
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": prof.name, "kind": prof.kind, "rows": prof.n_rows,
        "missing": prof.n_missing, "invalid": prof.n_invalid, "sketches": {},
    }
    sketches: dict[str, bytes] = {}
    if isinstance(prof, NumericProfile):
        entry.update(mean=_num(prof.mean), std=_num(prof.std), min=_num(prof.min),
                     max=_num(prof.max), nan=prof.n_nan, inf=prof.n_inf)
        if prof.counts is not None and prof.kll is not None:
            sketches = {"binned": prof.counts.to_bytes(), "kll": prof.kll.to_bytes()}
    elif isinstance(prof, CategoricalProfile):
        sketches = {"topk": prof.topk.to_bytes()}
    elif isinstance(prof, VectorProfile):
        entry.update(
            dim=prof.dim,
            mean=None if prof.mean is None else [_num(v) for v in prof.mean],
            std=None if prof.std is None else [_num(v) for v in prof.std],
        )
        if prof.sample is not None:
            sketches = {"reservoir": prof.sample.to_bytes()}
    for what, blob in sketches.items():
        member = f"{prefix}/{i}.{what}"
        zf.writestr(member, blob)
        entry["sketches"][what] = member
    return entry


def save_profile(profile: ReferenceProfile, path: str | os.PathLike[str]) -> None:
    """Write ``profile`` to ``path`` (atomically: a temporary file, then a rename)."""
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": profile.created_at,
                "rows": profile.n_rows,
                "bins": profile.bins,
                "model_name": profile.model_name,
                "output_kind": profile.output_kind,
                "importances": profile.importances,
                "metadata": profile.metadata,
                "calibration": {
                    name: {"statistic": c.statistic, "chunk_rows": c.chunk_rows, "mean": c.mean,
                           "std": c.std, "chunks": c.n_chunks}
                    for name, c in profile.calibration.items()
                },
                "features": [_write_feature(zf, "features", i, f)
                             for i, f in enumerate(profile.features.values())],
                "outputs": [_write_feature(zf, "outputs", i, f)
                            for i, f in enumerate(profile.outputs.values())],
                "row_sample": None,
            }
            if profile.rows is not None:
                zf.writestr("rows.reservoir", profile.rows.to_bytes())
                manifest["row_sample"] = {
                    "features": list(profile.row_features), "member": "rows.reservoir"
                }
            zf.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_feature(zf: zipfile.ZipFile, entry: dict[str, Any]) -> FeatureProfile:
    kind = entry["kind"]
    sk = entry.get("sketches", {})
    name, rows = str(entry["name"]), int(entry["rows"])
    missing, invalid = int(entry["missing"]), int(entry["invalid"])
    if kind == NUMERIC:
        prof = NumericProfile(
            name, rows, missing, invalid, mean=_unnum(entry["mean"]), std=_unnum(entry["std"]),
            min=_unnum(entry["min"]), max=_unnum(entry["max"]),
            n_nan=int(entry["nan"]), n_inf=int(entry["inf"]),
        )
        if "binned" in sk:
            prof.counts = BinnedCounts.from_bytes(zf.read(sk["binned"]))
            prof.kll = KLLSketch.from_bytes(zf.read(sk["kll"]))
        return prof
    if kind == CATEGORICAL:
        topk = TopKCounts.from_bytes(zf.read(sk["topk"]))
        return CategoricalProfile(name, rows, missing, invalid, topk=topk)
    if kind == VECTOR:
        return VectorProfile(
            name, rows, missing, invalid, dim=int(entry["dim"]),
            sample=Reservoir.from_bytes(zf.read(sk["reservoir"])) if "reservoir" in sk else None,
            mean=None if entry["mean"] is None else np.array([_unnum(v) for v in entry["mean"]]),
            std=None if entry["std"] is None else np.array([_unnum(v) for v in entry["std"]]),
        )
    raise ValueError(f"unknown feature kind {kind!r}")


def load_profile(path: str | os.PathLike[str]) -> ReferenceProfile:
    """Read a profile file; every problem is a ``ValueError`` saying what is wrong."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(
            f"no profile at {name}; build one with `inferwatch profile build DATA --out {name}`"
        )
    try:
        with zipfile.ZipFile(name) as zf:
            try:
                manifest = json.loads(zf.read(MANIFEST))
            except KeyError:
                raise ValueError(f"{name} is a zip file but not an inferwatch profile") from None
            if manifest.get("format") != FORMAT:
                raise ValueError(f"{name} is not an inferwatch profile")
            version = manifest.get("version")
            if not isinstance(version, int) or version > VERSION:
                raise ValueError(
                    f"{name} uses profile format version {version}; this inferwatch reads up to "
                    f"version {VERSION}: upgrade inferwatch"
                )
            features = [_read_feature(zf, e) for e in manifest["features"]]
            outputs = [_read_feature(zf, e) for e in manifest["outputs"]]
            rows = None
            row_features: tuple[str, ...] = ()
            if manifest.get("row_sample"):
                rows = Reservoir.from_bytes(zf.read(manifest["row_sample"]["member"]))
                row_features = tuple(manifest["row_sample"]["features"])
    except zipfile.BadZipFile:
        raise ValueError(
            f"{name} is not an inferwatch profile (not a zip archive); rebuild it with "
            "`inferwatch profile build`"
        ) from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{name} is a damaged inferwatch profile: missing {exc}") from None
    return ReferenceProfile(
        features={f.name: f for f in features},
        outputs={f.name: f for f in outputs},
        output_kind=manifest.get("output_kind"),
        importances=manifest.get("importances"),
        rows=rows,
        row_features=row_features,
        calibration={
            k: Calibration(v["statistic"], int(v["chunk_rows"]), float(v["mean"]),
                           float(v["std"]), int(v["chunks"]))
            for k, v in (manifest.get("calibration") or {}).items()
        },
        n_rows=int(manifest.get("rows", 0)),
        bins=int(manifest.get("bins", 10)),
        model_name=manifest.get("model_name"),
        created_at=str(manifest.get("created_at", "")),
        metadata=dict(manifest.get("metadata") or {}),
    )
