"""On-call runbooks generated from the configuration: one Markdown file per model.

::

    from inferwatch.rules import RuleOptions
    from inferwatch.runbook import render_runbook, write_runbooks
    from inferwatch.slo import load_slos

    slos = load_slos("slos.yaml")
    text = render_runbook("churn", slos, RuleOptions(naming="collector"),
                          status_url="http://10.0.0.7:8000")
    write_runbooks("runbooks/", ["churn", "fraud"], slos)      # runbooks/churn.md, ...

or ``inferwatch runbook --slo slos.yaml --out runbooks/``. A runbook lists the
alerts ``inferwatch.rules.prometheus_rules`` generates for the model (each
under a heading whose anchor is :func:`alert_anchor`, the same anchor
``RuleOptions(runbook_doc=URL)`` links each alert's ``runbook_url`` to), then
the checks in :data:`CHECKS` order (``inferwatch diagnose`` walks the same
ones) with their PromQL, status page section and commands, then the
actions: roll back, fall back to a default prediction, escalate.

Modules, one job each: ``_anchors`` makes GitHub's heading anchors,
``_checks`` defines the checks and their order, ``_alerts`` picks a model's
alerts from the generated rules and says what each means, ``_queries``
writes each check's PromQL, ``_commands`` its shell commands,
``_markdown`` escapes and formats, ``_render`` lays out one runbook,
``_write`` picks the models and writes the files, ``_cli`` is
``inferwatch runbook``.
"""

from ._anchors import alert_anchor, github_slug
from ._checks import CHECKS, RUNBOOK_CHECKS, CheckDef
from ._render import render_runbook
from ._write import runbook_file_name, runbook_models, write_runbooks

__all__ = [
    "CHECKS",
    "RUNBOOK_CHECKS",
    "CheckDef",
    "alert_anchor",
    "github_slug",
    "render_runbook",
    "runbook_file_name",
    "runbook_models",
    "write_runbooks",
]
