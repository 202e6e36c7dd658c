"""The inferwatch command: profile build and show, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inferwatch.cli import main


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    rows = [f"{i % 17},{'xyz'[i % 3]},{i % 4},{(i % 10) / 10}" for i in range(200)]
    path.write_text("age,plan,code,score\n" + "\n".join(rows) + "\n")
    return path


def test_build_then_show(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.iwprofile"
    assert main(["profile", "build", str(csv_file), "--out", str(out), "--categorical", "code",
                 "--prediction", "score"]) == 0
    assert "200 rows, 3 features" in capsys.readouterr().out
    assert main(["profile", "show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "age" in text and "categorical" in text and "prediction" in text
    assert main(["profile", "show", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["features"]["code"]["kind"] == "categorical"


def test_features_option(csv_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.iwprofile"
    assert main(["profile", "build", str(csv_file), "--out", str(out), "--features", "age"]) == 0
    from inferwatch.drift import load_profile

    assert load_profile(out).feature_names == ["age"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["profile", "build", "missing.csv", "--out", "x"], 1, "no such file"),
        (["profile", "show", "missing.iwprofile"], 1, "no profile"),
        (["profile", "build", "data.json", "--out", "x"], 1, "extension"),
    ],
)
def test_errors_are_clear(tmp_path: Path, argv: list[str], code: int, message: str,
                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                          ) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.json").write_text("{}")
    assert main(argv) == code
    assert message in capsys.readouterr().err


def test_unknown_column(csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "build", str(csv_file), "--out", str(tmp_path / "p"),
                 "--categorical", "nope"]) == 1
    assert "not found" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["profile", "build"])
    assert exc.value.code == 2


@pytest.mark.usefixtures("no_pyarrow")
def test_missing_pyarrow_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    assert main(["profile", "build", str(path), "--out", str(tmp_path / "p")]) == 3
    assert "pip install" in capsys.readouterr().err
