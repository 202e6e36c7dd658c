"""Profiles: building from each source, the file round trip, bad inputs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import inferwatch.drift as drift
from inferwatch import MissingDependencyError


def test_file_round_trip_keeps_every_part(tmp_path: Path, profile: drift.ReferenceProfile) -> None:
    path = tmp_path / "p.iwprofile"
    profile.save(str(path))
    loaded = drift.ReferenceProfile.load(str(path))
    assert loaded.summary() == profile.summary()
    x0, y0 = profile.features["x0"], loaded.features["x0"]
    assert isinstance(x0, drift.NumericProfile) and isinstance(y0, drift.NumericProfile)
    assert y0.counts is not None and x0.counts is not None
    assert np.array_equal(y0.counts.counts, x0.counts.counts)
    assert y0.edges is not None and x0.edges is not None and y0.edges.size == 11
    assert loaded.calibration["x0"] == profile.calibration["x0"]
    assert loaded.rows is not None and loaded.rows.rows.shape == (1024, 4)


def test_numpy_with_vector_and_outputs() -> None:
    rng = np.random.default_rng(0)
    rows = [{"emb": rng.normal(size=8), "n": float(i), "flag": bool(i % 2)} for i in range(500)]
    prof = drift.build_profile(rows, prediction=rng.integers(0, 3, 500),
                               confidence=rng.random(500), importances={"n": 2.0})
    assert prof.features["emb"].kind == "vector"
    assert prof.features["flag"].kind == "categorical"
    assert prof.output_kind == "class" and prof.outputs["prediction"].kind == "categorical"
    assert prof.outputs["confidence"].kind == "numeric"
    matrix = drift.build_profile(rng.normal(size=(100, 3)))
    assert matrix.feature_names == ["f0", "f1", "f2"]


def test_csv_with_missing_cells_and_categories(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    lines = ["age,plan,code,score"] + [
        f"{20 + i % 50},{'ab'[i % 2]},{i % 3},{(i % 10) / 10}" if i % 7 else f",b,{i % 3},0.5"
        for i in range(300)
    ]
    path.write_text("\n".join(lines) + "\n")
    prof = drift.build_profile(path, categorical=["code"], prediction="score")
    assert prof.features["age"].kind == "numeric"
    assert prof.features["age"].n_missing == 43
    assert prof.features["plan"].kind == "categorical"
    assert prof.features["code"].kind == "categorical"
    assert "score" not in prof.features and prof.output_kind == "probability"


def test_pandas_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": np.arange(100.0), "c": ["x", "y"] * 50})
    prof = drift.build_profile(df)
    assert [f.kind for f in prof.features.values()] == ["numeric", "categorical"]


def test_polars_dataframe() -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"a": np.arange(100.0), "c": ["x", "y"] * 50, "p": np.linspace(0, 1, 100)})
    prof = drift.build_profile(df, prediction="p")
    assert [f.kind for f in prof.features.values()] == ["numeric", "categorical"]
    assert prof.features["a"].n_rows == 100
    assert prof.output_kind == "probability"


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": np.arange(100.0), "c": ["x", "y"] * 50}), path)
    assert drift.build_profile(path).features["c"].kind == "categorical"


@pytest.mark.usefixtures("no_pyarrow")
def test_parquet_without_pyarrow_is_actionable(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(MissingDependencyError, match="pip install"):
        drift.build_profile(path)


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        (np.zeros(5), {}, "2-D"),
        (42, {}, "cannot read"),
        ({"a": [1.0, 2.0]}, {"features": ["b"]}, "not found"),
        ({"a": [1.0, 2.0]}, {"bins": 0}, "bins"),
        ({"a": [1.0, 2.0]}, {"output_kind": "odd"}, "output_kind"),
        ({"a": [1.0, 2.0]}, {"importances": {"zz": 1.0}}, "unknown feature"),
        ({"a": [1.0, 2.0]}, {"prediction": "p"}, "not in the data"),
    ],
)
def test_bad_training_data_is_explained(data: object, kwargs: dict[str, object],
                                        match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        drift.build_profile(data, **kwargs)


def test_dirty_training_values_are_counted() -> None:
    rows = [{"a": v} for v in [1.0, float("nan"), None, "bad", float("inf")] + [2.0] * 10]
    prof = drift.build_profile(rows)
    a = prof.features["a"]
    assert isinstance(a, drift.NumericProfile)
    assert (a.n_missing, a.n_invalid, a.n_nan, a.n_inf, a.n) == (1, 1, 1, 1, 11)


def test_bad_profile_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="profile build"):
        drift.load_profile(tmp_path / "none.iwprofile")
    junk = tmp_path / "junk.iwprofile"
    junk.write_text("hello")
    with pytest.raises(ValueError, match="not a zip"):
        drift.load_profile(junk)
    newer = tmp_path / "newer.iwprofile"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr("manifest.json", '{"format": "inferwatch.profile", "version": 99}')
    with pytest.raises(ValueError, match="upgrade inferwatch"):
        drift.load_profile(newer)


def test_drift_modules_have_no_import_cycle() -> None:
    # Issue 9: _profile imported _profile_io (inside save/load) and _profile_io imported
    # _profile. Every relative import, at module level or inside a function, counts.
    import ast

    package = Path(drift.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {
            (node.module or "").split(".")[0] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, {m}))
    assert cycles == [], cycles
