"""The demo (``python3 tasks.py demo``) runs end to end and shows each signal it promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
pytest.importorskip("inferwatch_fastapi")

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_shows_logs_slis_drift_slos_and_health(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--requests", "1200",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Every request reached the status route's count (metrics see every call).
    assert "the status route /inferwatch/status reports 1200 calls" in out
    assert re.search(r"== log records: \d+ JSON lines", out)
    assert "-- one 'error' record" in out  # errors are always kept
    assert "event 'model_version_seen'" in out
    # The shifted feature is caught in the second window, not the first.
    first, second = out.split("== drift: second window")
    assert not re.search(r"^\s+f03\s+drift", first, re.M)
    assert re.search(r"^\s+f03\s+drift", second, re.M)
    for name in ("churn-availability", "churn-latency", "churn-drift"):
        assert re.search(rf"^\s+{name}: .* minutes left", out, re.M), name
    score = re.search(r"churn 2024-05: health (\d+) \((green|yellow|red)\)", out)
    assert score, out[-2000:]
    # The drift it saw costs points, and the explanation says so.
    assert int(score.group(1)) < 100 and "f03 PSI" in out.split("== model health")[1]
    # Ground truth arrives late and is joined by request id; quality per A/B variant.
    truth = out.split("== ground truth:")[1].split("== A/B test")[0]
    assert re.search(r"churn labels arrive a day later", truth)
    for variant in ("control", "treatment"):
        line = re.search(rf"variant {variant}: (\d+) pairs .* join rate ([\d.]+)%", truth)
        assert line and int(line.group(1)) > 100 and 85 < float(line.group(2)) < 95, truth
    assert re.search(r"roc_auc 0\.[6-9]\d\d", truth) and "calibration (predicted" in truth
    # The label-free estimate, made before the labels, beside the realised value: the
    # demo's shift is a covariate shift, so the realised values fall in the bands.
    est = out.split("== performance before labels arrive")[1].split("== drift before")[0]
    rows = re.findall(r"^\s+(control|treatment)\s+(\w+)\s+([\d.]+) \[([\d.]+), ([\d.]+)\]\s+"
                      r"([\d.]+) \[([\d.]+), ([\d.]+)\]\s+([\d.]+)", est, re.M)
    assert len(rows) == 10, est
    inside = [float(r[6]) <= float(r[8]) <= float(r[7]) for r in rows]
    assert sum(inside) >= 8, est
    # Drift came first (the proxy) and the labels show what it cost (the lagging truth).
    lagging = out.split("== drift before quality")[1].split("== A/B test")[0]
    assert re.search(r"window 1: accuracy 0\.\d+ \([+-][\d.]+% against window 0\) .*"
                     r"drift (warning|drift): f03 PSI 0\.\d\d", lagging), lagging
    # The experiment's readout: the treatment's extra millisecond within its 5 ms guardrail.
    ab = out.split("== A/B test")[1].split("== status page")[0]
    assert "experiment churn-retention-offer" in ab and "not final: day" in ab
    assert re.search(r"latency_ms \(treatment\): degradation \+[0-9.]+ .*margin 5: pass", ab)
    # The alerts whose conditions hold: drift only once the traffic has shifted.
    alerts = out.split("== alerts:")[1].split("== status page")[0]
    before, after = alerts.split("after the shift:")
    assert "InferwatchFeatureDrift" not in before
    assert re.search(r"P2  InferwatchFeatureDrift  churn:2024-05: .*f03 \(PSI", after)


def test_the_demo_ends_with_the_status_page_and_its_screenshot(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--requests", "400",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = proc.stdout.split("== status page ==")[1]
    assert re.search(r"http://127\.0\.0\.1:\d+/inferwatch \(served while", page)
    shot = tmp_path / "status-page.png"
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        assert f"screenshot saved to {shot}" in page
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a whole page drawn
    else:
        assert "no screenshot: no chromium here" in page and not shot.exists()
