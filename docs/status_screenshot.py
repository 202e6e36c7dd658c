"""Make docs/status-page.png, the README's screenshot of the status page.

A churn model with a drift profile, two SLOs and version tracking serves
normal traffic, then traffic whose ages have shifted and which brings a
plan the training data never had; the page is served on loopback and
photographed in Debian's chromium through Playwright::

    .venv/bin/python docs/status_screenshot.py [OUT.png]
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import sync_playwright

import inferwatch
import inferwatch.drift as drift
import inferwatch.slo as slo
from inferwatch.health import VersionTracker
from inferwatch.status import serve


def main(out: str) -> None:
    rng = np.random.default_rng(7)
    n = 5000
    age = rng.normal(40, 10, n)
    train = {"age": age.tolist(), "income": rng.lognormal(10, 1, n).tolist(),
             "tenure": rng.exponential(20, n).tolist(),
             "plan": rng.choice(["basic", "plus", "pro"], n).tolist()}
    profile = drift.build_profile(train, categorical=["plan"],
                                  prediction=np.clip((age - 20) / 80, 0, 1), model_name="churn")
    monitor = inferwatch.Monitor(metrics_exporter="none", log_sink="none",
                                 feature_sample_rate=1.0, max_records_per_second=1e9)
    drift.watch(profile, monitor, window="count:1000")
    slo.track([slo.SLO("churn-availability", "availability", 0.99, window="7d", model="churn"),
               slo.SLO("churn-latency", "latency", 0.95, window="7d", model="churn",
                       threshold_ms=50)], monitor)
    VersionTracker().attach(monitor)
    calls = {"n": 0}

    @inferwatch.monitor(model="churn", version="2024-06", features="x", monitor=monitor)
    def predict(x: dict[str, Any]) -> float:
        calls["n"] += 1
        time.sleep(float(rng.gamma(2.0, 0.0015)))  # a model that takes a few ms
        if calls["n"] % 70 == 0:
            raise TimeoutError("feature store timed out")
        return float(np.clip((x["age"] - 20) / 80, 0, 1))

    for i in range(1800):
        shifted = i >= 800
        x = {"age": float(rng.normal(52 if shifted else 40, 10)),
             "income": float(rng.lognormal(10, 1)),
             "tenure": float(rng.exponential(20)),
             "plan": str(rng.choice(["basic", "plus", "trial"] if shifted
                                    else ["basic", "plus", "pro"]))}
        with contextlib.suppress(TimeoutError):
            predict(x)
    server = serve(monitor, port=0, background=True, refresh=0, title="churn-api status")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/inferwatch"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.goto(url, wait_until="load")
            page.screenshot(path=out, clip={"x": 0, "y": 0, "width": 1000, "height": 1400})
            browser.close()
    finally:
        server.shutdown()
        monitor.shutdown()
    print(f"wrote {out} ({Path(out).stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("status-page.png")))
