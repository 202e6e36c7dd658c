"""``inferwatch runbook`` on the command line: where it writes, what it refuses, exit codes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from runbooktools import anchors, headings

from inferwatch.cli import main

yaml = pytest.importorskip("yaml")


def _slo(name: str, model: str | None, kind: str = "availability") -> str:
    notes = f"inferwatch/kind: {kind}" + (f", inferwatch/model: {model}" if model else "")
    return (f"apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: {name}\n"
            f"  annotations: {{{notes}}}\nspec:\n  indicator: {{metadata: {{name: calls}}}}\n"
            "  timeWindow: [{duration: 30d, isRolling: true}]\n  objectives: [{target: 0.99}]\n")


@pytest.fixture
def slo_file(tmp_path: Path) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text("---\n".join([_slo("churn-availability", "churn"),
                                  _slo("fraud-availability", "fraud"),
                                  _slo("all-availability", None)]))
    return path


def test_a_folder_gets_one_file_per_model_of_the_slo_file(
    tmp_path: Path, slo_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "runbooks"
    assert main(["runbook", "--slo", str(slo_file), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["churn.md", "fraud.md"]
    churn = (out / "churn.md").read_text()
    fraud = (out / "fraud.md").read_text()
    assert headings(churn)[0] == "Runbook: churn" and headings(fraud)[0] == "Runbook: fraud"
    assert "inferwatchbudgetburnpage1h-churn-availability" in anchors(churn)
    assert "inferwatchbudgetburnpage1h-fraud-availability" not in anchors(churn)
    assert "inferwatchbudgetburnpage1h-all-availability" in anchors(fraud)  # every model's SLO
    err = capsys.readouterr().err
    assert f"wrote {out / 'churn.md'}" in err and f"wrote {out / 'fraud.md'}" in err


def test_one_file_stdout_and_the_same_bytes_every_time(
    tmp_path: Path, slo_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "sub" / "churn-runbook.md"
    argv = ["runbook", "--slo", str(slo_file), "--model", "churn", "--naming", "collector"]
    assert main([*argv, "--out", str(out)]) == 0
    first = out.read_text()
    assert main([*argv, "--out", str(out)]) == 0
    assert out.read_text() == first  # deterministic: fit to commit
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out == first
    assert "naming `collector`" in first and " UTC" not in first
    assert main([*argv, "--timestamp"]) == 0
    assert capsys.readouterr().out != first


def test_a_runbook_without_slos_for_a_named_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "--model", "churn", "--status-url", "http://127.0.0.1:9100"]) == 0
    text = capsys.readouterr().out
    assert "No SLO covers churn" in text and "InferwatchHighErrorRate" in headings(text)
    assert not any("InferwatchBudgetBurn" in h for h in headings(text))


@pytest.mark.parametrize(("argv", "message"), [
    (["runbook"], "pass --model NAME"),
    (["runbook", "--slo", "{slo}", "--model", "chrun"], "unknown model 'chrun'"),
    (["runbook", "--slo", "{slo}"], "2 models (churn, fraud): give --out DIR"),
    (["runbook", "--slo", "{slo}", "--out", "{tmp}/one.md"], "is one file: give a folder"),
    (["runbook", "--model", "churn", "--model", "churn"], "given twice"),
    (["runbook", "--model", " "], "--model is empty"),
    (["runbook", "--model", "churn", "--status-url", "10.0.0.7:8000"], "not an http(s) URL"),
    (["runbook", "--slo", "{tmp}/missing.yaml", "--model", "churn"], "cannot read the SLO file"),
    (["runbook", "--slo", "{bad}", "--model", "churn"], "target"),
])
def test_bad_input_exits_2_saying_what_to_do(
    argv: list[str], message: str, tmp_path: Path, slo_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(_slo("x", "churn").replace("target: 0.99", "target: 1.5"))
    argv = [a.format(slo=slo_file, tmp=tmp_path, bad=bad) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("inferwatch runbook: ") and message in err, err
    assert not (tmp_path / "one.md").exists()


def test_rules_and_runbook_options_agree(tmp_path: Path, slo_file: Path) -> None:
    # The same rule options give the runbook the thresholds the rule file has.
    out = tmp_path / "churn.md"
    assert main(["runbook", "--slo", str(slo_file), "--model", "churn", "--out", str(out),
                 "--error-rate", "0.05", "--burn-rates", "10,5,2,1"]) == 0
    text = out.read_text()
    assert "thresholds `> 0.05`" in text and "thresholds `> 10`" in text
    rules = tmp_path / "rules.yml"
    assert main(["rules", "prometheus", "--slo", str(slo_file), "--out", str(rules),
                 "--error-rate", "0.05", "--runbook-doc", "https://git/ops/{model}.md"]) == 0
    doc = yaml.safe_load(rules.read_text())
    urls = {r["alert"]: r["annotations"]["runbook_url"]
            for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert urls["InferwatchHighErrorRate"] == ('https://git/ops/{{ reReplaceAll '
                                               '"[^A-Za-z0-9._-]" "_" $labels.model_name }}.md'
                                               "#inferwatchhigherrorrate")
    assert urls["InferwatchEndpointDown"] == "https://git/ops/churn.md#inferwatchendpointdown"


def test_rules_refuse_both_runbook_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["rules", "prometheus", "--runbook", "x", "--runbook-doc", "y.md"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (Debian: apt-get install prometheus)")
def test_promtool_accepts_the_templated_runbook_urls(tmp_path: Path, slo_file: Path) -> None:
    # promtool parses every annotation as a Go template: reReplaceAll must be one it knows.
    rules = tmp_path / "rules.yml"
    assert main(["rules", "prometheus", "--slo", str(slo_file), "--out", str(rules),
                 "--runbook-doc", "https://git/ops/{model}.md", "--naming", "collector"]) == 0
    done = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reReplaceAll" in rules.read_text()
