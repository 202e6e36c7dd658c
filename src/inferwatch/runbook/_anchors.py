"""Heading anchors as GitHub makes them, and the one anchor each generated alert gets.

GitHub (and GitLab, and most renderers that copy it: github-slugger) turns a
heading's rendered text into its ``id``: lower case, every character that is
not a letter, a digit, a mark, ``-``, ``_`` or a space removed, each space
replaced by ``-``; a slug already taken in the document gets ``-1``, ``-2``
appended. The rule generator (``runbook_url``) and the runbook both call
:func:`alert_anchor`, so a link can only point at a heading the runbook has.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["alert_anchor", "alert_heading", "file_stem", "github_slug", "unique_slugs"]


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading whose rendered text is ``text``.

    ::

        github_slug("InferwatchBudgetBurnPage1h (churn-availability)")
        # 'inferwatchbudgetburnpage1h-churn-availability'
    """
    kept = []
    for char in text.strip().lower():
        if char in "-_ " or unicodedata.category(char)[0] in "LNM":
            kept.append("-" if char == " " else char)
    return "".join(kept)


def unique_slugs(texts: Iterable[str]) -> list[str]:
    """The anchors of headings in document order, repeats suffixed ``-1``, ``-2`` as GitHub does."""
    seen: set[str] = set()
    out = []
    for text in texts:
        base = slug = github_slug(text)
        n = 0
        while slug in seen:
            n += 1
            slug = f"{base}-{n}"
        seen.add(slug)
        out.append(slug)
    return out


def alert_heading(alert: str, slo: str | None = None) -> str:
    """The runbook heading (plain text) of an alert; an SLO's alerts name the SLO.

    One alert name is generated once per SLO (each SLO has its own burn
    alerts), so the SLO is part of the heading and the anchor.
    """
    return f"{alert} ({slo})" if slo else alert


def alert_anchor(alert: str, slo: str | None = None) -> str:
    """The anchor of an alert's section in the runbook: ``#`` + this is its link.

    ::

        alert_anchor("InferwatchHighErrorRate")                      # 'inferwatchhigherrorrate'
        alert_anchor("InferwatchBudgetBurnPage1h", "churn-latency")
        # 'inferwatchbudgetburnpage1h-churn-latency'
    """
    return github_slug(alert_heading(alert, slo))


def file_stem(model: str) -> str:
    """The stem of a model's runbook file: characters other than letters, digits, ``.``,
    ``_`` and ``-`` become ``_`` (``inferwatch runbook --out DIR`` writes ``<stem>.md``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", model)


#: The same as :func:`file_stem`, as a Prometheus template of a label (``$labels.<label>``).
FILE_STEM_TEMPLATE = '{{{{ reReplaceAll "[^A-Za-z0-9._-]" "_" $labels.{label} }}}}'
