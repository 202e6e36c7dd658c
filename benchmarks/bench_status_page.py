"""Status page figures, printed in one run (about half a minute on 2 cores).

    python benchmarks/bench_status_page.py [--loads 7]

For one model version with 4 and with 20 numeric features (a drift profile,
1,500 calls, a closed drift window with 3 features shifted):

1. page load in Debian's headless chromium through Playwright (median of
   ``--loads`` reloads): wall time of ``goto`` to the load event, and the
   browser's Navigation Timing (time to first byte; start to load event end);
2. payload: bytes of HTML and of JSON;
3. server side: building the status document and rendering the page
   (median), and one infrastructure reading (CPU, memory, NVML when installed),
   the collection-time cost the page adds.

No budget: these are the figures the README quotes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
import urllib.request
from typing import Any

import numpy as np

import inferwatch
import inferwatch.drift as drift
from inferwatch.status import build_status, render_html, serve
from inferwatch.status._infra import ProcessSampler


def _median_ms(fn: Any, n: int = 20) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _monitor(n_features: int) -> inferwatch.Monitor:
    rng = np.random.default_rng(1)
    n = 5000
    train = {f"f{i}": rng.normal(0, 1, n).tolist() for i in range(n_features)}
    profile = drift.build_profile(train, prediction=rng.random(n), model_name="m")
    monitor = inferwatch.Monitor(metrics_exporter="none", log_sink="none",
                                 feature_sample_rate=1.0, max_records_per_second=1e9)
    drift.watch(profile, monitor, window="count:1000")

    @inferwatch.monitor(model="m", version="1", features="x", monitor=monitor)
    def predict(x: dict[str, float]) -> float:
        return float(rng.random())

    for _ in range(1500):
        predict({f"f{i}": float(rng.normal(0.3 if i < 3 else 0.0, 1)) for i in range(n_features)})
    return monitor


def run(n_features: int, loads: int, chromium: str | None) -> None:
    monitor = _monitor(n_features)
    sampler = ProcessSampler()
    build_ms = _median_ms(lambda: build_status(monitor, sampler=sampler))
    doc = build_status(monitor, sampler=sampler)
    render_ms = _median_ms(lambda: render_html(doc))
    infra_us = _median_ms(sampler.read, 200) * 1e3
    server = serve(monitor, port=0, background=True, refresh=0)
    url = f"http://127.0.0.1:{server.server_address[1]}/inferwatch"
    try:
        with urllib.request.urlopen(url) as r:
            html = r.read()
        with urllib.request.urlopen(url + "/status") as r:
            js = r.read()
        line = (f"{n_features:>2} features: HTML {len(html) / 1024:.1f} KiB, JSON "
                f"{len(js) / 1024:.1f} KiB; document {build_ms:.1f} ms, render "
                f"{render_ms:.1f} ms, infrastructure reading {infra_us:.0f} us")
        if chromium is not None:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium)
                page = browser.new_page()
                page.goto(url)  # the first load starts the renderer
                walls, ttfb, load = [], [], []
                for _ in range(loads):
                    t = time.perf_counter()
                    page.goto(url, wait_until="load")
                    walls.append(time.perf_counter() - t)
                    nav = page.evaluate(
                        "() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return [n.responseStart - n.requestStart, n.loadEventEnd]; }")
                    ttfb.append(nav[0])
                    load.append(nav[1])
                browser.close()
            line += (f"; browser load {statistics.median(walls) * 1e3:.0f} ms (goto to load, "
                     f"median of {loads}), time to first byte {statistics.median(ttfb):.0f} "
                     f"ms, navigation to load end {statistics.median(load):.0f} ms")
        print(line, flush=True)
    finally:
        server.shutdown()
        server.server_close()
        monitor.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        chromium = None
    if chromium is None:
        print("no chromium or playwright: browser figures left out "
              "(apt-get install chromium; pip install playwright)")
    for n in (4, 20):
        run(n, args.loads, chromium)


if __name__ == "__main__":
    main()
