"""The reference profile, and the one file it is stored in.

:class:`ReferenceProfile` is what "normal" looked like: one
:class:`~._feature_profile.FeatureProfile` per feature and output, optional
feature importances, a row sample for multivariate tests and thresholds
calibrated on the reference itself. It is built by
:func:`inferwatch.drift.build_profile`.

The profile file: one zip archive, a JSON manifest plus framed sketch bytes.

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
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

from ..sketches import Reservoir
from ._feature_profile import Calibration, FeatureProfile, read_feature

FORMAT = "inferwatch.profile"
VERSION = 1
MANIFEST = "manifest.json"


@dataclass
class ReferenceProfile:
    """Everything drift is measured against; build with :func:`build_profile`.

    ``features`` keeps the training column order, which is also how unnamed
    live columns (2-D arrays) are matched: by position.
    """

    features: dict[str, FeatureProfile]
    outputs: dict[str, FeatureProfile] = field(default_factory=dict)
    output_kind: str | None = None
    importances: dict[str, float] | None = None
    rows: Reservoir | None = None
    row_features: tuple[str, ...] = ()
    calibration: dict[str, Calibration] = field(default_factory=dict)
    n_rows: int = 0
    bins: int = 10
    model_name: str | None = None
    created_at: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the profile to one file (the layout is in this module's docstring)."""
        save_profile(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceProfile:
        """Read a profile written by :meth:`save` (or ``inferwatch profile build``)."""
        return load_profile(path)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what ``inferwatch profile show`` prints)."""
        return {
            "rows": self.n_rows,
            "bins": self.bins,
            "model_name": self.model_name,
            "created_at": self.created_at,
            "output_kind": self.output_kind,
            "features": {n: f.summary() for n, f in self.features.items()},
            "outputs": {n: f.summary() for n, f in self.outputs.items()},
            "importances": self.importances,
            "row_sample": None if self.rows is None else {
                "features": list(self.row_features), "rows": int(self.rows.rows.shape[0])},
            "calibrated": sorted(self.calibration),
            "metadata": self.metadata,
        }


def _write_feature(
    zf: zipfile.ZipFile, prefix: str, i: int, prof: FeatureProfile
) -> dict[str, Any]:
    entry = prof.manifest_entry()
    entry["sketches"] = {}
    for what, blob in prof.sketch_blobs().items():
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
                "calibration": {name: c.to_manifest()
                                for name, c in profile.calibration.items()},
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
            features = [read_feature(e, zf.read) for e in manifest["features"]]
            outputs = [read_feature(e, zf.read) for e in manifest["outputs"]]
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
        calibration={k: Calibration.from_manifest(v)
                     for k, v in (manifest.get("calibration") or {}).items()},
        n_rows=int(manifest.get("rows", 0)),
        bins=int(manifest.get("bins", 10)),
        model_name=manifest.get("model_name"),
        created_at=str(manifest.get("created_at", "")),
        metadata=dict(manifest.get("metadata") or {}),
    )
