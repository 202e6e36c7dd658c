"""``inferwatch rules prometheus``: the rule generator on the command line."""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._prometheus import RuleOptions

__all__ = ["add_parser", "add_rule_options", "rule_options", "run"]


def _scale(text: str) -> float:
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; write e.g. 1/60 or 0.0167") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1]")
    return value


def _factors(text: str) -> tuple[float, float, float, float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or not all(v > 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give four positive burn rates, e.g. 14.4,6,3,1")
    return values[0], values[1], values[2], values[3]


def add_rule_options(prom: argparse.ArgumentParser) -> None:
    """The options the generated alerts depend on (shared with ``inferwatch runbook``)."""
    from ._names import NAMINGS

    prom.add_argument("--naming", choices=NAMINGS, default="otel-prometheus",
                      help="how metrics reach Prometheus: scraped from each replica through "
                      "OTel's Prometheus exporter (default), or through the OTel Collector")
    prom.add_argument("--scale", type=_scale, default=1.0,
                      help="multiply every window and 'for' by this (e.g. 1/60 in tests: "
                      "1h becomes 1m; names stay nominal)")
    prom.add_argument("--burn-rates", type=_factors, default=(14.4, 6.0, 3.0, 1.0),
                      help="the four burn-rate thresholds: page 1h/5m, page 6h/30m, ticket "
                      "1d/2h, ticket 3d/6h (default 14.4,6,3,1)")
    prom.add_argument("--error-rate", type=float, default=0.10,
                      help="P0 error-rate threshold (default 0.10)")
    prom.add_argument("--max-in-flight", type=int, default=64,
                      help="P2 in-flight calls per replica (default 64)")
    prom.add_argument("--confidence-drop", type=float, default=0.10,
                      help="P2 when the 1h mean confidence falls this share below the day "
                      "before (default 0.10)")
    prom.add_argument("--psi-window", default="1h",
                      help="window of the fleet PSI rules (default 1h; generated once replicas "
                      "export reference-bin counts)")


def rule_options(args: argparse.Namespace, **extra: Any) -> RuleOptions:
    """The ``RuleOptions`` of the options :func:`add_rule_options` added."""
    from ._prometheus import RuleOptions

    return RuleOptions(
        naming=args.naming, scale=args.scale, burn_factors=args.burn_rates,
        error_rate=args.error_rate, max_in_flight=args.max_in_flight,
        confidence_drop=args.confidence_drop, psi_window=args.psi_window, **extra,
    )


def add_parser(sub: Any) -> None:
    """Add ``rules prometheus`` to the command's subparsers."""
    rules = sub.add_parser("rules", help="generate alerting and recording rules")
    rsub = rules.add_subparsers(dest="action", required=True)
    prom = rsub.add_parser(
        "prometheus", help="Prometheus recording and alerting rules from SLOs",
        description="Write Prometheus rules: SLO error ratios over 5m-3d, error budget "
                    "remaining and burn rates for the fleet, multi-window burn-rate alerts, "
                    "and P0-P3 model alerts. Check them with `promtool check rules FILE`.")
    prom.add_argument("--slo", help="OpenSLO v1 YAML file with the SLOs (without it: model "
                      "alerts only)")
    prom.add_argument("--out", help="the rule file to write (default: standard output)")
    add_rule_options(prom)
    links = prom.add_mutually_exclusive_group()
    links.add_argument("--runbook", default=None,
                       help="base URL of the runbooks (runbook_url is BASE/<AlertName>)")
    links.add_argument("--runbook-doc", metavar="URL", default=None,
                       help="URL of the Markdown runbook `inferwatch runbook` writes: "
                       "runbook_url is URL#<the alert's section>; {model} in URL becomes the "
                       "alert's model, e.g. https://git.example.com/ops/runbooks/{model}.md")


def run(args: argparse.Namespace) -> int:
    """Write the rule file; returns the exit code."""
    from . import prometheus_rules, render, skipped_slos
    from ._prometheus import DEFAULT_RUNBOOK

    slos: list[Any] = []
    if args.slo:
        from ..slo import load_slos

        slos = load_slos(args.slo)
    options = rule_options(args, runbook=args.runbook or DEFAULT_RUNBOOK,
                           runbook_doc=args.runbook_doc)
    rules = prometheus_rules(slos, options)
    header = (f"Generated by `inferwatch rules prometheus` (naming {args.naming}"
              + (f", scale {args.scale:g}" if args.scale != 1 else "")
              + (f", SLOs from {os.path.basename(args.slo)}" if args.slo else "")
              + "). Check with `promtool check rules`.")
    text = render(rules, header)
    skipped = skipped_slos(slos)
    if skipped:
        print(f"inferwatch: no Prometheus rules for {', '.join(skipped)} (no exported "
              "metric counts their events)", file=sys.stderr)
    count = sum(len(g["rules"]) for g in rules["groups"])
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"wrote {args.out}: {count} rules for {len(slos) - len(skipped)} SLOs",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
