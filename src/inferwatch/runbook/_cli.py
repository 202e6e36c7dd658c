"""``inferwatch runbook``: the on-call runbook of each model, as Markdown.

Exit codes: 0 written, 2 bad usage or input (an SLO file that cannot be
used, an unknown or missing model, a bad URL, several models for one file),
and, through ``inferwatch.cli``, 3 when PyYAML is missing for ``--slo``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_USAGE = 0, 2


def add_parser(sub: Any) -> None:
    """Add ``runbook`` to the command's subparsers."""
    from ..rules._cli import add_rule_options

    p = sub.add_parser(
        "runbook", help="write the on-call runbook of each model (Markdown)",
        description="Write a Markdown runbook per model: the alerts `inferwatch rules "
                    "prometheus` generates for it (severity, meaning, what each fires on, "
                    "where to start), then the checks in order (service health, prediction "
                    "distribution, input data quality, upstream freshness, recent version "
                    "changes) with their PromQL, status page section and commands, then the "
                    "actions (roll back, fall back, escalate). Give the rule options the "
                    "rules are made with, so the runbook describes the same alerts.")
    p.add_argument("--model", action="append", metavar="NAME",
                   help="the model (its model.name); repeat for several (default: every model "
                   "the SLO file names)")
    p.add_argument("--slo", metavar="FILE", help="OpenSLO v1 YAML file with the SLOs")
    p.add_argument("--out", metavar="FILE_OR_DIR",
                   help="a .md file (one model), or a folder that gets <model>.md per model "
                   "(default: standard output, one model)")
    p.add_argument("--status-url", metavar="URL",
                   help="the service's address (http://host:port) for the commands and links "
                   "(default: they read $STATUS_URL)")
    p.add_argument("--timestamp", action="store_true",
                   help="say when the runbook was generated (off: the same configuration "
                   "gives the same file, to commit)")
    add_rule_options(p)


def run(args: argparse.Namespace) -> int:
    """Write the runbooks; returns the exit code."""
    from .._errors import ConfigurationError
    from ..rules._cli import rule_options
    from . import render_runbook, runbook_models, write_runbooks

    try:
        slos: list[Any] = []
        if args.slo:
            from ..slo import load_slos

            slos = load_slos(args.slo)
        options = rule_options(args)
        models = runbook_models(slos, args.model, source=args.slo or "the SLOs")
        stamp = datetime.now(timezone.utc) if args.timestamp else None
        if args.out is None:
            if len(models) != 1:
                raise ConfigurationError(
                    f"{len(models)} models ({', '.join(models)}): give --out DIR to write one "
                    "file each, or one --model")
            sys.stdout.write(render_runbook(models[0], slos, options, status_url=args.status_url,
                                            slo_file=args.slo, generated_at=stamp))
            return EXIT_OK
        paths = write_runbooks(args.out, models, slos, options, status_url=args.status_url,
                               slo_file=args.slo, generated_at=stamp)
    except (ConfigurationError, ValueError) as exc:
        print(f"inferwatch runbook: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for model, path in zip(models, paths, strict=True):
        print(f"wrote {path}: the runbook of {model}", file=sys.stderr)
    return EXIT_OK
