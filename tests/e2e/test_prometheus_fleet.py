"""The generated rules on a real Prometheus scraping two replicas (Debian's ``prometheus``).

Two replica processes (tests/e2e/replica.py) each serve a monitored predict
on 127.0.0.1 and their metrics in Prometheus format through OTel's Prometheus
exporter with ``inferwatch.otel.instrument_reader``. A Prometheus of our own
(temporary directory, free port, 1 s scrape and evaluation intervals, killed
at the end and by ``timeout`` in any case) scrapes both and evaluates the
rules ``inferwatch rules prometheus --scale 1/60`` writes: every window and
``for`` is sixty times shorter (1h is 1m, 5m is 5s, the SLO's 30 days are
12 hours) under the same names. Traffic runs in two phases through both
replicas: 15 s at 2 % errors on reference-like features, then 30 s at 30 %
errors (a 30x burn) with two features shifted by 1.5 standard deviations.
About a minute in all.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("opentelemetry.exporter.prometheus")
PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(PROMETHEUS is None,
                       reason="Debian's prometheus not installed (apt-get install prometheus)"),
]

HERE = Path(__file__).resolve().parent
SLO_NAME = "churn-availability"
SLO_FILE = f"""\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: {SLO_NAME}
  annotations: {{inferwatch/kind: availability, inferwatch/model: churn}}
spec:
  indicator: {{metadata: {{name: calls}}}}
  timeWindow: [{{duration: 30d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
"""
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
PHASE1_S, PHASE2_S = 15.0, 30.0
RATE = 25.0  # requests a second to each replica
SHIFT = np.array([1.5, 1.5, 0.0, 0.0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=expr)["result"])

    def value(self, expr: str) -> float:
        result = self.query(expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def alerts(self) -> dict[str, str]:
        """Alert name -> its most advanced state (firing over pending)."""
        states: dict[str, str] = {}
        for alert in self.get("/api/v1/alerts")["alerts"]:
            name = alert["labels"]["alertname"]
            if states.get(name) != "firing":
                states[name] = alert["state"]
        return states


class Replica:
    def __init__(self, tmp: Path, name: str, profile: Path) -> None:
        self.name = name
        self.port, self.metrics_port = _free_port(), _free_port()
        self.err = open(tmp / f"{name}.err", "wb")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            ["timeout", "240", sys.executable, str(HERE / "replica.py"),
             "--port", str(self.port), "--metrics-port", str(self.metrics_port),
             "--profile", str(profile), "--instance", name, "--lifetime", "200"],
            stdout=subprocess.PIPE, stderr=self.err,
        )
        self.sent = 0
        self.rows: list[tuple[list[float], bool]] = []  # every call's features, and fail

    def ready(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == b"ready", line

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def predict(self, conn: http.client.HTTPConnection, features: list[float],
                fail: bool) -> int:
        body = json.dumps({"features": features, "fail": fail})
        conn.request("POST", "/predict", body, {"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        self.sent += 1
        self.rows.append((features, fail))
        return response.status

    def summary(self) -> dict[str, Any]:
        conn = self.connection()
        conn.request("GET", "/summary")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return dict(data["models"]["churn:1"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.err.close()


def _traffic(replica: Replica, seconds: float, error_every: tuple[int, int], shift: np.ndarray,
             seed: int, statuses: list[int]) -> None:
    """Paced requests; call i fails when i % error_every[1] < error_every[0]."""
    rng = np.random.default_rng(seed)
    conn = replica.connection()
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        features = (rng.normal(size=4) + shift).tolist()
        statuses.append(replica.predict(conn, features, i % error_every[1] < error_every[0]))
        i += 1
        pause = start + i / RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    conn.close()


def _phase(replicas: list[Replica], seconds: float, errors: tuple[int, int],
           shift: np.ndarray, seed: int) -> list[int]:
    statuses: list[int] = []
    threads = [threading.Thread(target=_traffic, args=(r, seconds, errors, shift, seed + n,
                                                       statuses))
               for n, r in enumerate(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import inferwatch.drift

    tmp = tmp_path_factory.mktemp("fleet")
    rng = np.random.default_rng(0)
    train = rng.normal(size=(5000, 4))
    p = 1.0 / (1.0 + np.exp(-(train @ np.array([0.8, -0.5, 0.3, 0.1]))))
    profile = tmp / "churn.iwprofile"
    inferwatch.drift.build_profile(train, prediction=p, confidence=np.maximum(p, 1 - p),
                                   seed=0).save(profile)
    (tmp / "slos.yaml").write_text(SLO_FILE)
    rules = tmp / "rules.yml"
    subprocess.run([sys.executable, "-m", "inferwatch.cli", "rules", "prometheus",
                    "--slo", str(tmp / "slos.yaml"), "--out", str(rules), "--scale", "1/60"],
                   check=True, timeout=60)

    replicas = [Replica(tmp, name, profile) for name in ("replica-a", "replica-b")]
    prom_proc = None
    prom_err = open(tmp / "prometheus.err", "wb")  # noqa: SIM115  (closed at the end)
    try:
        for replica in replicas:
            replica.ready()
        # One ok and one failed call each before the first scrape, so both series exist
        # from Prometheus's first sample on (increase() counts from the first sample).
        for replica in replicas:
            conn = replica.connection()
            assert replica.predict(conn, [0.0] * 4, False) == 200
            assert replica.predict(conn, [0.0] * 4, True) == 500
            conn.close()
        port = _free_port()
        targets = ", ".join(f'"127.0.0.1:{r.metrics_port}"' for r in replicas)
        (tmp / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}\n"
            f"rule_files: [{json.dumps(str(rules))}]\n"
            "scrape_configs:\n  - job_name: churn\n"
            f"    static_configs: [{{targets: [{targets}]}}]\n"
        )
        prom_proc = subprocess.Popen(
            ["timeout", "240", str(PROMETHEUS), f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=prom_err,
        )
        prom = Prometheus(port)

        def both_up() -> bool:
            try:
                return len(prom.query("up == 1")) == 2 and len(
                    prom.query('inferwatch_predict_calls_total{inferwatch_outcome="error"}')) == 2
            except OSError:
                return False

        _wait(both_up, 60, "Prometheus to scrape both replicas")

        statuses = _phase(replicas, PHASE1_S, (1, 50), np.zeros(4), seed=1)  # 2 % errors
        after_phase1 = prom.alerts()
        phase2 = time.monotonic()
        firing_at: dict[str, float] = {}
        watch = {"InferwatchBudgetBurnPage1h", "InferwatchFeatureDrift",
                 "InferwatchHighErrorRate", "InferwatchFleetFeatureDrift"}
        stop_watch = threading.Event()

        def watch_alerts() -> None:
            while not stop_watch.is_set():
                for name, state in prom.alerts().items():
                    if state == "firing" and name not in firing_at:
                        firing_at[name] = time.monotonic() - phase2
                stop_watch.wait(0.5)

        watcher = threading.Thread(target=watch_alerts)
        watcher.start()
        statuses += _phase(replicas, PHASE2_S, (3, 10), SHIFT, seed=2)  # 30 % errors, drift
        _wait(lambda: watch <= set(firing_at), 30, f"alerts {sorted(watch)} to fire")
        stop_watch.set()
        watcher.join(10)
        time.sleep(3)  # a few scrapes after the last call
        summaries = {r.name: r.summary() for r in replicas}
        yield {"prom": prom, "replicas": replicas, "summaries": summaries,
               "statuses": statuses, "after_phase1": after_phase1, "firing_at": firing_at,
               "rules": rules, "profile": profile}
    finally:
        if prom_proc is not None:
            prom_proc.terminate()
            try:
                prom_proc.wait(10)
            except subprocess.TimeoutExpired:
                prom_proc.kill()
                prom_proc.wait(5)
        for replica in replicas:
            replica.stop()
        prom_err.close()


def test_the_replicas_own_counts_are_what_prometheus_has(fleet: dict[str, Any]) -> None:
    prom, summaries = fleet["prom"], fleet["summaries"]
    by_instance = {r["metric"]["instance"]: float(r["value"][1])
                   for r in prom.query('sum by (instance) (inferwatch_predict_calls_total'
                                       '{model_name="churn"})')}
    for replica in fleet["replicas"]:
        own = summaries[replica.name]
        assert own["calls"] == replica.sent  # the replica saw every call the client sent
        assert by_instance[f"127.0.0.1:{replica.metrics_port}"] == own["calls"]
    calls = sum(s["calls"] for s in summaries.values())
    errors = sum(s["errors"] for s in summaries.values())
    assert prom.value('sum(inferwatch_predict_calls_total{model_name="churn"})') == calls
    assert prom.value('sum(inferwatch_predict_calls_total{model_name="churn", '
                      'inferwatch_outcome="error"})') == errors
    assert fleet["statuses"].count(500) == errors - 2  # less the two warm-up failures


def test_the_slo_series_exist_under_the_documented_names(fleet: dict[str, Any]) -> None:
    prom = fleet["prom"]
    sel = f'{{inferwatch_slo_name="{SLO_NAME}"}}'
    for window in WINDOWS:
        for name in (f"inferwatch:slo_sli_error:ratio_rate{window}",
                     f"inferwatch:slo_burn_rate:ratio_rate{window}"):
            result = prom.query(name + sel)
            assert len(result) == 1, name
            assert result[0]["metric"]["inferwatch_slo_kind"] == "availability"
        per_replica = prom.query(f"instance:inferwatch_slo_sli_error:ratio_rate{window}{sel}")
        assert len(per_replica) == 2
    assert prom.value(f"inferwatch:slo_objective:ratio{sel}") == 0.99
    assert len(prom.query(f"inferwatch:slo_error_budget_remaining:ratio{sel}")) == 1
    assert len(prom.query(f"inferwatch:slo_sli_error:ratio_rate30d{sel}")) == 1


def test_the_fleet_sli_and_budget_agree_with_the_replicas(fleet: dict[str, Any]) -> None:
    prom, summaries = fleet["prom"], fleet["summaries"]
    sel = f'{{inferwatch_slo_name="{SLO_NAME}"}}'
    # The SLO window (12 h scaled) holds the whole run; increase() counts from each series'
    # first sample, which came after the two warm-up calls per replica.
    calls = sum(s["calls"] for s in summaries.values()) - 4
    errors = sum(s["errors"] for s in summaries.values()) - 2
    expected = errors / calls
    sli = prom.value(f"inferwatch:slo_sli_error:ratio_rate30d{sel}")
    # Prometheus extrapolates each series' increase to the range's ends by under a scrape
    # interval's worth: well under 1 % of the ratio here.
    assert sli == pytest.approx(expected, rel=0.01)
    budget = prom.value(f"inferwatch:slo_error_budget_remaining:ratio{sel}")
    assert budget == pytest.approx(1 - expected / 0.01, rel=0.01)
    assert budget < 0  # a 30x burn for half the run overspends the budget
    burn_1h = prom.value(f"inferwatch:slo_burn_rate:ratio_rate1h{sel}")
    sli_1h = prom.value(f"inferwatch:slo_sli_error:ratio_rate1h{sel}")
    assert burn_1h == pytest.approx(sli_1h / 0.01, rel=0.02)


def test_a_fast_burn_pages_and_drift_alerts(fleet: dict[str, Any]) -> None:
    assert fleet["after_phase1"].get("InferwatchBudgetBurnPage1h") is None  # 2x: quiet
    assert "firing" not in fleet["after_phase1"].values()
    firing_at = fleet["firing_at"]
    # 30x burn against 14.4x over the 1m and 5s windows, then 2s for: within the phase.
    assert firing_at["InferwatchBudgetBurnPage1h"] < PHASE2_S
    assert "InferwatchFeatureDrift" in firing_at and "InferwatchHighErrorRate" in firing_at
    drifted = fleet["prom"].query("inferwatch_drift_status == 2")
    features = {r["metric"]["inferwatch_feature"] for r in drifted}
    assert {"f0", "f1"} <= features  # the shifted two (the drift engine judges the rest)
    print(f"\nfiring after phase 2 began (s): "
          f"{ {k: round(v, 1) for k, v in sorted(firing_at.items())} }")


def test_the_fleet_psi_from_prometheus_is_inferwatch_psi_on_every_row(
    fleet: dict[str, Any],
) -> None:
    import yaml

    from inferwatch.drift import ReferenceProfile
    from inferwatch.stats import bin_counts, psi_from_counts

    prom = fleet["prom"]
    profile = ReferenceProfile.load(str(fleet["profile"]))
    sent = [row for replica in fleet["replicas"] for row in replica.rows]
    x = np.array([features for features, _ in sent])
    ok = x[[not fail for _, fail in sent]]
    columns = {f"f{i}": x[:, i] for i in range(4)}
    columns["prediction"] = 1.0 / (1.0 + np.exp(-(ok @ np.array([0.8, -0.5, 0.3, 0.1]))))
    columns["confidence"] = np.maximum(columns["prediction"], 1.0 - columns["prediction"])

    # 1. Both replicas' counters, summed by Prometheus, are the counts of every row sent.
    counted: dict[str, dict[int, float]] = {}
    for r in prom.query('sum by (inferwatch_feature, inferwatch_bin) '
                        '(inferwatch_drift_bin_rows_total{model_name="churn"})'):
        feature, bin_ = r["metric"]["inferwatch_feature"], int(r["metric"]["inferwatch_bin"])
        counted.setdefault(feature, {})[bin_] = float(r["value"][1])
    assert set(counted) == set(columns)
    expected: dict[str, np.ndarray] = {}
    for feature, values in columns.items():
        family = profile.outputs if feature in ("prediction", "confidence") else profile.features
        edges = family[feature].counts.edges  # type: ignore[attr-defined]
        expected[feature] = bin_counts(values, edges)
        got = [counted[feature].get(i, 0.0) for i in range(expected[feature].size)]
        assert got == expected[feature].tolist(), feature

    # 2. The generated fleet-PSI expression, evaluated by Prometheus over those totals (the
    # window since the replicas started: it aligns with the rows sent), is inferwatch's own
    # PSI on every row of both replicas.
    rules = {r["record"]: r["expr"] for g in yaml.safe_load(fleet["rules"].read_text())["groups"]
             for r in g["rules"] if "record" in r}
    psi_name = next(n for n in rules if n.startswith("inferwatch:drift_psi:increase"))
    window = psi_name.removeprefix("inferwatch:drift_psi:increase")
    total_name = f"inferwatch:drift_bin_rows:increase{window}"
    share_name = f"inferwatch:drift_bin_share:ratio_increase{window}"
    increase = re.compile(r"increase\((inferwatch_drift_bin_rows_total)\[[^\]]+\]\)")
    total = increase.sub(r"\1", rules[total_name])
    share = increase.sub(r"\1", rules[share_name]).replace(total_name, f"({total})")
    whole_run = rules[psi_name].replace(share_name, f"({share})").replace(total_name,
                                                                          f"({total})")
    fleet_psi = {r["metric"]["inferwatch_feature"]: float(r["value"][1])
                 for r in prom.query(whole_run)}
    assert set(fleet_psi) == set(columns)
    for feature, counts in expected.items():
        family = profile.outputs if feature in ("prediction", "confidence") else profile.features
        reference = family[feature].counts.counts  # type: ignore[attr-defined]
        own = psi_from_counts(reference, counts).statistic
        assert fleet_psi[feature] == pytest.approx(own, abs=1e-9), feature

    # 3. The recorded fleet PSI over its (scaled) window: the shifted features stand out.
    recorded = {r["metric"]["inferwatch_feature"]: float(r["value"][1])
                for r in prom.query(psi_name)}
    assert recorded["f0"] > 0.5 and recorded["f1"] > 0.5, recorded
    assert recorded["f2"] < 0.1 and recorded["f3"] < 0.1, recorded
    print(f"\nfleet PSI over every row (Prometheus | inferwatch): "
          f"{ {f: round(v, 6) for f, v in sorted(fleet_psi.items())} }; "
          f"recorded over {window} (scaled): "
          f"{ {f: round(v, 3) for f, v in sorted(recorded.items())} }")


def test_every_dashboard_query_runs_and_the_main_panels_show_the_fleet(
    fleet: dict[str, Any],
) -> None:
    from inferwatch.dashboards import grafana_dashboards
    from inferwatch.slo import load_slos

    prom = fleet["prom"]
    slos = load_slos(str(fleet["rules"].with_name("slos.yaml")))

    def as_sent(expr: str) -> str:  # what Grafana sends, its variables replaced
        return (expr.replace("$__rate_interval", "5s").replace("$__range", "1m")
                .replace("$model", ".*").replace("$version", ".*"))

    empty: set[str] = set()
    ran = 0
    for dashboard in grafana_dashboards(slos).values():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", ()):
                if not prom.query(as_sent(target["expr"])):  # get() asserts success
                    empty.add(panel["title"])
                ran += 1
    assert ran > 30
    # What this fleet produces (calls, errors, latency, drift, SLO rules) is on screen.
    shown = {"Calls per second", "Error ratio", "Errors by type", "Predictions per second",
             "Predict latency p50 / p90 / p99", "Fleet error budget remaining",
             "Fleet burn rate, 1h and 6h", "Drift status per feature", "PSI over time",
             "Prediction p10 / p50 / p90", "Prediction distribution", "Predictions served",
             "Availability", "Error budget left"}
    assert not shown & empty, sorted(shown & empty)
    versions = prom.get("/api/v1/label/model_version/values",
                        **{"match[]": 'inferwatch_predict_calls_total{model_name=~".*"}'})
    assert versions == ["1"]  # the version variable's choices
