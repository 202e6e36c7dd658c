"""The inferwatch demo: an instrumented model server under replayed traffic.

What happens, in order:

1. A churn model (logistic regression over 20 numeric and 2 categorical
   features, numpy only) is "trained" on synthetic data, and a reference
   profile is built from that training data with ``inferwatch.drift``
   (the same as ``inferwatch profile build``) and saved to one file.
2. The model is served by FastAPI under a real uvicorn server on 127.0.0.1,
   with ``InferenceMiddleware`` (via ``inferwatch_fastapi.instrument_app``)
   and a ``@inferwatch.monitor``-decorated predict function: one record per
   request, PII pseudonymised, JSON logs sampled after each call.
3. A client replays a few thousand requests over HTTP: some invalid (the
   model raises), some slow. Halfway through, the traffic shifts: one
   feature's mean moves, one country's share grows, and with them the
   prediction distribution.
4. The demo prints sampled log records, the service SLIs, the sampling
   counts, the metrics handed to OpenTelemetry, and the drift reports of the
   windows before and after the shift: drift on the features that moved and
   on the predictions, none on the others. Last, what this process has seen
   of three SLOs' error budgets (``inferwatch.slo``) and the model's health
   score with the reasons it is not 100 (``inferwatch.health``), and the
   generated alerts whose conditions hold before and after the shift
   (``inferwatch.rules.alerts_now``). Then the late labels: quality and
   calibration per A/B variant, the label-free estimate (CBPE) made before
   they came beside the realised value, drift set beside the quality its
   window's labels showed, and the A/B experiment's readout. Then where
   the status page was served (``/inferwatch``, mounted by
   ``instrument_app(status_routes=True)``), and a screenshot of it taken in
   Debian's headless chromium through Playwright when both are installed
   (``<out>/status-page.png``).

Run it with ``python3 tasks.py demo`` (sets everything up), or, inside the
project's virtual environment, ``python examples/demo.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException
from inferwatch_fastapi import instrument_app
from pydantic import BaseModel

import inferwatch
import inferwatch.drift
import inferwatch.estimate
import inferwatch.experiments
import inferwatch.health
import inferwatch.labels
import inferwatch.slo
from inferwatch.experiments import Experiment, Guardrail, Metric, assign
from inferwatch.logsinks import RotatingFileSink
from inferwatch.rules import alerts_now

NUMERIC = [f"f{i:02d}" for i in range(20)]
COUNTRIES = ["US", "DE", "FR", "BR"]
DEVICES = ["mobile", "desktop"]
SHIFTED_FEATURE = "f03"
DEMO_KEY = "hex:" + "5e" * 32  # a real deployment sets INFERWATCH_PII_KEY instead
EXPERIMENT = "churn-retention-offer"  # control: no offer; treatment: the offer, a bigger model


class ChurnModel:
    """Logistic regression with fixed weights: fast, deterministic, numpy only."""

    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(0, 0.35, len(NUMERIC))
        self.weights[NUMERIC.index(SHIFTED_FEATURE)] = 1.2  # a feature that matters
        self.country_effect = {"US": 0.0, "DE": -0.3, "FR": -0.2, "BR": 0.9}
        self.bias = -0.4

    def predict_proba(self, row: dict[str, Any]) -> float:
        x = np.array([row[name] for name in NUMERIC], dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinity")
        z = x @ self.weights + self.bias + self.country_effect.get(row["country"], 0.0)
        return float(1.0 / (1.0 + np.exp(-z)))


def synthetic_rows(rng: np.random.Generator, n: int, *, shifted: bool) -> list[dict[str, Any]]:
    """Rows of traffic; ``shifted`` moves one feature's mean and one country's share."""
    numeric = rng.normal(0.0, 1.0, (n, len(NUMERIC)))
    if shifted:
        numeric[:, NUMERIC.index(SHIFTED_FEATURE)] += 0.8
    shares = [0.35, 0.2, 0.15, 0.3] if shifted else [0.5, 0.2, 0.2, 0.1]
    countries = rng.choice(COUNTRIES, size=n, p=shares)
    devices = rng.choice(DEVICES, size=n, p=[0.6, 0.4])
    return [
        {**dict(zip(NUMERIC, map(float, numeric[i]), strict=True)),
         "country": str(countries[i]), "device": str(devices[i])}
        for i in range(n)
    ]


def build_reference(model: ChurnModel, out: Path) -> inferwatch.drift.ReferenceProfile:
    rows = synthetic_rows(np.random.default_rng(0), 5000, shifted=False)
    predictions = np.array([model.predict_proba(row) for row in rows])
    profile = inferwatch.drift.build_profile(
        rows, categorical=["country", "device"], prediction=predictions,
        output_kind="probability", model_name="churn",
    )
    profile.save(out)
    return inferwatch.drift.load_profile(out)


class PredictRequest(BaseModel):
    user_id: str
    features: dict[str, Any]
    slow: bool = False


def build_app(model: ChurnModel, monitor: inferwatch.Monitor) -> FastAPI:
    @inferwatch.monitor(model="churn", version="2024-05", features="row", monitor=monitor,
                        confidence=lambda p: max(p, 1.0 - p))
    def predict(row: dict[str, Any], slow: bool = False, bigger: bool = False) -> float:
        with inferwatch.stage("inference"):
            if slow:
                time.sleep(0.03)  # a cold cache, a GC pause: the calls on-call asks about
            if bigger:
                time.sleep(0.001)  # the treatment's bigger model: a millisecond more
            return model.predict_proba(row)

    app = FastAPI()

    @app.post("/models/{name}/predict")
    def predict_route(name: str, request: PredictRequest) -> dict[str, Any]:
        variant = assign(request.user_id, EXPERIMENT, key=DEMO_KEY)  # keyed, every replica alike
        record = inferwatch.current_record()
        if record is not None:  # per-request attributes; user_id is a PII field
            record.attributes = {"user_id": request.user_id, "variant": variant}
        try:
            return {"churn_probability": predict(request.features, request.slow,
                                                 variant == "treatment"),
                    "variant": variant}
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    instrument_app(app, monitor=monitor, model="churn", status_routes=True)
    return app


class Server:
    """uvicorn on 127.0.0.1 in a background thread, stopped on exit."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def replay(client: httpx.Client, rows: list[dict[str, Any]], offset: int,
           rng: np.random.Generator) -> dict[int, int]:
    statuses: dict[int, int] = {}
    for i, row in enumerate(rows):
        row = dict(row)
        if rng.random() < 0.02:
            row[NUMERIC[int(rng.integers(len(NUMERIC)))]] = float("nan")  # bad client data
        body = json.dumps({"user_id": f"user-{(offset + i) % 500:04d}@example.com",
                           "features": row, "slow": (offset + i) % 200 == 100})
        response = client.post("/models/churn/predict", content=body,
                               headers={"content-type": "application/json",
                                        "x-request-id": f"req-{offset + i:06d}"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return statuses


def show_logs(path: Path) -> None:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    others: list[dict[str, Any]] = []
    for event in events:
        if "sampling.rule" in event:
            by_rule.setdefault(event["sampling.rule"], []).append(event)
        else:  # a rare event (a model version seen the first time), never sampled
            others.append(event)
    print(f"\n== log records: {len(events)} JSON lines in {path} ==")
    for event in others:
        print(f"-- event '{event['event']}': " + json.dumps(event)[:400])
    for rule in ("error", "slow", "low_confidence", "rate"):
        if rule in by_rule:
            event = dict(by_rule[rule][0])
            if "features" in event:
                event["features"] = f"<{len(event['features'])} features, elided here>"
            print(f"-- one '{rule}' record (of {len(by_rule[rule])}):")
            print("   " + json.dumps(event)[:900])


def show_slis(monitor: inferwatch.Monitor) -> None:
    summary = monitor.summary()
    print("\n== service SLIs (from metrics, which see every call) ==")
    for model, sli in summary["models"].items():
        print(f"model {model}: {sli['calls']} calls, {sli['predictions']} predictions, "
              f"error rate {sli['error_rate']:.2%}, in flight {sli['in_flight']}")
        print(f"  predict latency p50 {sli['latency_p50_ms']:.3f} ms, "
              f"p95 {sli['latency_p95_ms']:.3f} ms, p99 {sli['latency_p99_ms']:.3f} ms")
    print("\n== sampling: rule/decision -> records ==")
    for key, n in summary["sampling"].items():
        print(f"  {key:<28} {n}")
    print(f"  dropped by inferwatch: {summary['dropped']}; its own errors: {summary['errors']}")


def show_metrics(monitor: inferwatch.Monitor) -> None:
    print("\n== metrics handed to OpenTelemetry at collection time ==")
    by_name: dict[str, list[Any]] = {}
    for point in monitor.collect():
        by_name.setdefault(point.name, []).append(point)
    for name, points in sorted(by_name.items()):
        kind = points[0].kind
        if kind == "histogram":
            count = sum(p.value.count for p in points)
            mean = sum(p.value.sum for p in points) / max(count, 1)
            text = f"histogram, {len(points)} series: {count} values, mean {mean:.6g}"
        elif kind == "counter":
            text = f"counter, {len(points)} series: total {sum(p.value for p in points):g}"
        else:
            text = f"{kind}, {len(points)} series"
        print(f"  {name:<48} {text}")
    print("  HTTP requests by route and status:")
    for point in by_name.get("inferwatch.http.server.request.duration", []):
        attrs = point.attributes
        print(f"    {attrs['http.request.method']} {attrs['http.route']} "
              f"{attrs['http.response.status_code']}: {point.value.count} requests"
              + (f" (error.type {attrs['error.type']})" if "error.type" in attrs else ""))


def show_drift(title: str, report: inferwatch.drift.DriftReport) -> None:
    window = report.window
    rows = window.rows if window is not None else 0
    print(f"\n== drift: {title} ({rows} rows vs {report.reference_rows} reference rows): "
          f"status {report.status.upper()}{', ALERT' if report.alert else ''}, "
          f"{report.n_drifted} features drifted "
          f"({report.drifted_share:.0%} of features), report took "
          f"{report.compute_seconds * 1000:.1f} ms ==")
    print(f"  {'feature':<12} {'status':<8} {'decided by':<12} statistics")
    entries = [*report.outputs.values(), *report.features.values()]
    for entry in sorted(entries, key=lambda e: (-e.level, e.name)):
        if entry.level == 0 and entry.name not in ("f00", "device", "prediction"):
            continue  # show the drifted ones and a few that did not move
        stats = ", ".join(
            f"{name}={stat.value:.3f}" + (f" (p={stat.adjusted_pvalue:.2g})"
                                          if stat.adjusted_pvalue is not None else "")
            for name, stat in entry.statistics.items()
        )
        print(f"  {entry.name:<12} {entry.status:<8} {entry.decided_by:<12} {stats}")
    quiet = sum(1 for e in entries if e.level == 0)
    print(f"  ... {quiet} features and outputs ok in all")


def show_slos_and_health(slos: inferwatch.slo.SLOTracker,
                          health: inferwatch.health.HealthTracker) -> None:
    print("\n== SLOs: what this process has seen of each error budget ==")
    for budget in slos.budgets():
        print(f"  {budget.text()}")
    print("\n== model health (0-100, the reasons it is not 100) ==")
    for score in health.scores():
        print(f"  {score.text()}")


def feed_labels(model: ChurnModel, rows: list[dict[str, Any]],
                labels: inferwatch.labels.LabelTracker, rng: np.random.Generator) -> int:
    """A day later, whether each user churned arrives for 90 % of the requests."""
    pairs = []
    for i, row in enumerate(rows):
        if rng.random() >= 0.9:
            continue  # some labels never come
        try:
            p = model.predict_proba(row)
        except ValueError:
            continue  # the call failed: no prediction to label
        pairs.append({"inference_id": f"req-{i:06d}", "label": int(rng.random() < p),
                      "model": "churn"})
    inferwatch.record_labels(pairs)
    labels.flush()
    return len(pairs)


def show_estimates(before_labels: list[dict[str, Any]],
                   labels: inferwatch.labels.LabelTracker) -> None:
    print("\n== performance before labels arrive: estimated from the model's probabilities "
          "(CBPE, 95 % band), then beside the realised value ==")
    early = {(e["model"], e["version"], e["variant"]): e for e in before_labels}
    print(f"  {'variant':<10} {'measure':<9} {'estimated (before labels)':<28} "
          f"{'estimated, joined pairs':<26} realised")
    for row in labels.quality():
        estimated = row["windows"][0].get("estimated") or {}
        first = early.get((row["model"], row["version"], row["variant"]))
        first_measures = first["windows"][0]["measures"] if first else {}
        for name, m in estimated.get("measures", {}).items():
            e0 = first_measures.get(name)
            early_text = (f"{e0['value']:.3f} [{e0['lower']:.3f}, {e0['upper']:.3f}]"
                          if e0 else "-")
            flag = "  OUTSIDE: concept drift?" if m["outside"] else ""
            print(f"  {row['variant'] or '-':<10} {name:<9} {early_text:<28} "
                  f"{m['value']:.3f} [{m['lower']:.3f}, {m['upper']:.3f}]  "
                  f"{m['realised']:.3f}{flag}")


def show_ground_truth(labels: inferwatch.labels.LabelTracker, n_labels: int) -> None:
    print(f"\n== ground truth: {n_labels} churn labels arrive a day later "
          "(inferwatch.record_labels, joined by request id) ==")
    for row in labels.quality():
        window = row["windows"][0]
        m = window["measures"]
        print(f"  {row['model']}:{row['version']} variant {row['variant'] or '-'}: "
              f"{window['pairs']} pairs in {window['window']}, join rate "
              f"{row['join_rate']:.1%}")
        print("    " + ", ".join(f"{name} {m[name]:.3f}" for name in (
            "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier", "ece")
            if m.get(name) is not None))
        bins = window.get("reliability") or []
        shown = [b for b in bins if b.get("count")]
        if shown:
            print("    calibration (predicted -> observed churn rate, pairs): " + "; ".join(
                f"{b['mean_probability']:.2f} -> {b['observed']:.2f} ({b['count']})"
                for b in shown[:10]))


def show_drift_before_quality(labels: inferwatch.labels.LabelTracker) -> None:
    print("\n== drift before quality: each drift window beside its labels' accuracy "
          "(inferwatch.labels.drift_before_quality) ==")
    for row in inferwatch.labels.drift_before_quality(labels):
        print(f"  {row['model']}:{row['version']} variant {row['variant'] or '-'}: "
              f"{row['text']}")


def feed_outcomes(experiment: Experiment, rng: np.random.Generator) -> None:
    """Whether each user stayed after the retention offer: the experiment's primary metric."""
    for user in range(500):
        user_id = f"user-{user:04d}@example.com"
        variant = assign(user_id, EXPERIMENT, key=DEMO_KEY)
        stayed = rng.random() < (0.45 if variant == "treatment" else 0.30)
        experiment.observe(variant, {"retained": float(stayed)}, unit_id=user_id)


def show_experiment(experiment: Experiment) -> None:
    print("\n== A/B test: the retention offer (inferwatch.experiments) ==")
    for line in experiment.readout().text().splitlines():
        print(f"  {line}")


def show_alerts(before: dict[str, Any], after: dict[str, Any]) -> None:
    print("\n== alerts: the generated rules' conditions on this process's numbers ==")
    print("  (inferwatch.rules.alerts_now; Prometheus would also wait each alert's `for`)")
    for title, document in (("before the shift", before), ("after the shift", after)):
        found = alerts_now(document)
        print(f"  {title}: {len(found) or 'none'}")
        for condition in found:
            print(f"    {condition}")


def photograph(url: str, path: Path) -> str:
    """Save a screenshot of the status page with Debian's chromium, if it is here."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return "no screenshot: no chromium here (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "no screenshot: playwright is not installed (pip install playwright)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.goto(url, wait_until="load")
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()
    return f"screenshot saved to {path} ({path.stat().st_size // 1024} KiB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--out", default=".iw-demo")
    args = parser.parse_args()
    half = args.requests // 2

    out = Path(args.out)
    out.mkdir(exist_ok=True)
    log_path = out / "inference.jsonl"
    log_path.unlink(missing_ok=True)
    model = ChurnModel()

    profile = build_reference(model, out / "churn.iwprofile")
    print(f"reference profile: {profile.n_rows} training rows, {len(profile.feature_names)} "
          f"features -> {out / 'churn.iwprofile'}")

    monitor = inferwatch.Monitor(
        service_name="churn-api",
        log_sink=RotatingFileSink(str(log_path), max_bytes=50 * 1024 * 1024,
                                  rotate_seconds=86400, backups=2),
        feature_sample_rate=0.05,
        slow_threshold_ms=25,
        low_confidence_threshold=0.52,
        pii_fields=["user_id"],
        pii_key=DEMO_KEY,
        metrics_exporter="none",
    )
    # One drift window for both arms (variant_key=None): the demo's shift hits both.
    drift = inferwatch.drift.watch(profile, monitor=monitor, window=f"count:{half}",
                                   model="churn", variant_key=None)
    SLO = inferwatch.slo.SLO
    slos = inferwatch.slo.track([
        SLO("churn-availability", "availability", 0.99, model="churn"),
        SLO("churn-latency", "latency", 0.95, threshold_ms=25, model="churn"),
        SLO("churn-drift", "drift", 0.9, window="7d", model="churn"),
    ], monitor=monitor)
    # The reference with labels (held-out training data): the accuracy a calibrated model
    # should reach, and the calibration the label-free estimate (CBPE) reads.
    reference_p = np.array([model.predict_proba(row) for row in synthetic_rows(
        np.random.default_rng(0), 2000, shifted=False)])
    reference_y = (np.random.default_rng(2).random(reference_p.size) < reference_p).astype(int)
    calibrator = inferwatch.estimate.Calibrator.fit(reference_p, reference_y, positive=1)
    # Ground truth comes later: predictions wait for their churn label in a bounded store,
    # and each window is estimated from the model's own probabilities in the meantime.
    labels = inferwatch.labels.track(monitor, task="classification", positive=1,
                                     window=["count:1000"], model="churn",
                                     estimator=inferwatch.estimate.CBPE(calibrator))
    baseline = float(np.mean(np.maximum(reference_p, 1.0 - reference_p)))
    health = inferwatch.health.track(
        monitor, latency_threshold_ms=25,
        weights={**inferwatch.health.DEFAULT_WEIGHTS, "quality": 20},
        components={"quality": inferwatch.labels.quality_component(
            labels, metric="accuracy", baseline=round(baseline, 3))})
    experiment = Experiment(
        EXPERIMENT, ("control", "treatment"), primary=Metric("retained", kind="proportion"),
        guardrails=[Guardrail("latency_ms", margin=5.0),
                    Guardrail("error", margin=0.02, kind="proportion")],
        mde=0.1, key=DEMO_KEY)
    inferwatch.experiments.watch(experiment, monitor, latency="latency_ms", errors="error",
                                 model="churn")

    rng = np.random.default_rng(1)
    before = synthetic_rows(rng, half, shifted=False)
    after = synthetic_rows(rng, args.requests - half, shifted=True)
    app = build_app(model, monitor)
    with Server(app) as server, httpx.Client(base_url=f"http://127.0.0.1:{server.port}",
                                             timeout=10) as client:
        print(f"model server on http://127.0.0.1:{server.port}; replaying {args.requests} "
              f"requests (the traffic shifts after {half}) ...")
        started = time.perf_counter()
        statuses = replay(client, before, 0, rng)
        monitor.flush()
        report_before = drift.report()
        status_before = client.get("/inferwatch/status").json()
        for status, n in replay(client, after, half, rng).items():
            statuses[status] = statuses.get(status, 0) + n
        elapsed = time.perf_counter() - started
        monitor.flush()
        report_after = drift.report()
        monitor.flush()
        estimated_early = labels.estimated()  # what was known before any label came
        n_labels = feed_labels(model, before + after, labels, rng)
        feed_outcomes(experiment, rng)
        monitor.flush()
        status_page = client.get("/inferwatch/status").json()
        page_url = f"http://127.0.0.1:{server.port}/inferwatch"
        screenshot = photograph(page_url, out / "status-page.png")
    print(f"done in {elapsed:.1f} s; HTTP statuses {dict(sorted(statuses.items()))} "
          f"(422: the model raised on NaN input; its ValueError reached the route unchanged)")
    calls = status_page["models"]["churn:2024-05"]["calls"]
    print(f"the status route /inferwatch/status reports {calls} calls")

    show_logs(log_path)
    show_slis(monitor)
    show_metrics(monitor)
    show_drift("first window, before the shift", report_before)
    show_drift("second window, after the shift", report_after)
    show_slos_and_health(slos, health)
    show_alerts(status_before, status_page)
    show_ground_truth(labels, n_labels)
    show_estimates(estimated_early, labels)
    show_drift_before_quality(labels)
    show_experiment(experiment)
    print(f"\n== status page ==\n  {page_url} (served while the demo ran; "
          f"the same as JSON at {page_url}/status)")
    print(f"  {screenshot}")
    monitor.shutdown()


if __name__ == "__main__":
    main()
