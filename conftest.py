"""Checks every test suite of the repository shares (core and integrations).

With ``INFERWATCH_NO_SKIPS=1`` (set by ``python3 tasks.py test`` for the run on
the newest dependencies, where every package and server the suites use is
installed) a skipped test fails instead: a skip must never hide a missing
package, browser or server in CI. Skips that no installation can lift are
allowed by their reason (``ALLOWED_SKIPS``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

#: Reasons a test may skip even where everything is installed.
ALLOWED_SKIPS = (
    "needs POSIX permissions that root ignores",  # CI runs as root
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    if os.environ.get("INFERWATCH_NO_SKIPS") != "1":
        return
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(allowed in reason for allowed in ALLOWED_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped where nothing may be missing (INFERWATCH_NO_SKIPS=1): {reason}\n"
        "install what it needs in tasks.py / .ci/run, or allow the reason in conftest.py"
    )
