"""The shell commands of each check: ``diagnose``, ``curl`` of the status JSON, ``budget check``.

With ``--status-url`` the commands name the service; without it they read
``$STATUS_URL``, which the runbook asks the reader to set. The status
token is always read from ``$INFERWATCH_STATUS_TOKEN`` (``diagnose`` reads
it from there too), never written into the runbook.
"""

from __future__ import annotations

import json
import shlex
import urllib.parse

from ._checks import (
    INPUT_DATA_QUALITY,
    OWN_LOSSES,
    PREDICTION_DISTRIBUTION,
    RECENT_VERSION_CHANGES,
    SERVICE_HEALTH,
    UPSTREAM_FRESHNESS,
    CheckDef,
)

__all__ = ["Commands", "status_base"]

STATUS_PATH = "/inferwatch/status"
PAGE_PATH = "/inferwatch"
TOKEN_ENV = "INFERWATCH_STATUS_TOKEN"


def status_base(url: str) -> str:
    """The service's base URL from ``--status-url`` (its status routes' path dropped).

    Raises ``ValueError`` for anything but an http(s) URL with a host.
    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"status URL {url!r} is not an http(s) URL; give the service's "
                         "address, e.g. --status-url http://10.0.0.7:8000")
    if parts.query or parts.fragment:
        raise ValueError(f"status URL {url!r} has a query or fragment; give the service's "
                         "address only, e.g. http://10.0.0.7:8000")
    path = parts.path.rstrip("/")
    for suffix in (STATUS_PATH, PAGE_PATH):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class Commands:
    """Commands for one model; ``status_url`` is the service's base URL or None."""

    def __init__(self, model: str, status_url: str | None, slo_file: str | None) -> None:
        self.model = model
        self.base = status_base(status_url) if status_url else None
        self.slo_file = slo_file

    @property
    def url(self) -> str:
        """The service address as a shell word."""
        return shlex.quote(self.base) if self.base else '"$STATUS_URL"'

    def page(self, check: CheckDef) -> str:
        """Where the status page shows the check (a URL, or one in terms of $STATUS_URL)."""
        return f"{self.base or '$STATUS_URL'}{PAGE_PATH}#{check.section_id}"

    def diagnose(self) -> str:
        return f"inferwatch diagnose {self.url}"

    def curl(self, jq_filter: str) -> str:
        target = (shlex.quote(self.base + STATUS_PATH) if self.base
                  else f'"$STATUS_URL{STATUS_PATH}"')
        return (f'curl -fsS -H "Authorization: Bearer ${TOKEN_ENV}" {target} \\\n'
                f"  | jq {shlex.quote(jq_filter)}")

    def jq_filter(self, check: CheckDef) -> str:
        """The part of the status document that the check reads."""
        m = json.dumps(self.model)
        mine = f'with_entries(select(.key | startswith({json.dumps(self.model + ":")})))'
        drift = f"[.drift[]? | select(.model == {m}) | {{version, window, "
        return {
            SERVICE_HEALTH: (f"{{models: (.models | {mine}), slos: [.slos[]? | select(.model "
                             f"== {m} or .model == null)], health: (.health // {{}} | {mine} "
                             "| map_values({score, status, explanation}))}"),
            PREDICTION_DISTRIBUTION: drift + "outputs, prediction_histogram}]",
            INPUT_DATA_QUALITY: drift + ("features, unknown_features, missing_features, "
                                         "unreadable_rows}]"),
            UPSTREAM_FRESHNESS: f".health // {{}} | {mine} | map_values(.components.freshness)",
            RECENT_VERSION_CHANGES: f'[.model_versions[]? | select(.["model.name"] == {m})]',
            OWN_LOSSES: "{dropped, errors}",
        }[check]

    def for_check(self, check: CheckDef) -> list[tuple[str, str]]:
        """(what it shows, command) pairs for the check."""
        out = [("Walk every check against the live service (worst first)", self.diagnose()),
               ("This check's part of the status document", self.curl(self.jq_filter(check)))]
        if check is SERVICE_HEALTH:
            out.append(("Error budget left on one replica (exit 1: a budget is spent)",
                        f"inferwatch budget check --status {self.url}"))
            if self.slo_file:
                out.append(("Error budget left for the fleet, from Prometheus",
                            'inferwatch budget check --prometheus "$PROMETHEUS_URL" --slo '
                            + shlex.quote(self.slo_file)))
        if check is INPUT_DATA_QUALITY:
            out.append(("What the reference profile holds per feature (ranges, categories, "
                        "missing rates)", "inferwatch profile show REFERENCE.iwprofile"))
        return out
