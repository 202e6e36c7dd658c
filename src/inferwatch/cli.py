"""The ``inferwatch`` command.

::

    inferwatch profile build train.csv --out churn.iwprofile --categorical country,plan
    inferwatch profile show churn.iwprofile [--json]
    inferwatch rules prometheus --slo slos.yaml --out inferwatch.rules.yml [--naming collector]
    inferwatch dashboard grafana --out dashboards/ [--slo slos.yaml] [--naming collector]
    inferwatch budget check --status http://127.0.0.1:8000 | --prometheus URL [--slo FILE]
    inferwatch serve-status --port 9100 [--token T] [--import myservice.worker]
    inferwatch diagnose http://127.0.0.1:8000 [--token T]
    inferwatch labels load labels.csv --status http://127.0.0.1:8000 [--token T]
    inferwatch runbook --slo slos.yaml --out runbooks/ [--model churn] [--status-url URL]

Exit codes: 0 success, 1 the input could not be used (bad data, bad file),
2 bad usage (argparse), 3 an optional dependency is missing. ``budget check``
has its own (``inferwatch.slo._cli``): 0 budget left, 1 a budget exhausted,
2 bad usage, 3 the source cannot be reached; so has ``diagnose``: 0 nothing
failing, 1 a check fails, 3 the endpoint cannot be read; so has ``labels
load`` (``inferwatch.labels._cli``): 0 all sent, 1 a bad file or a refused
batch, 2 bad usage, 3 the server cannot be reached. ``runbook`` exits 2 for
input it cannot use (an SLO file, an unknown model).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._errors import MissingDependencyError

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_DEPENDENCY = 0, 1, 2, 3


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inferwatch", description="Monitoring for model inference servers."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    profile = sub.add_parser("profile", help="build and inspect drift reference profiles")
    psub = profile.add_subparsers(dest="action", required=True)
    build = psub.add_parser("build", help="profile training data (CSV or Parquet)")
    build.add_argument("data", help="a .csv, .tsv or .parquet file with a header row")
    build.add_argument("--out", required=True, help="the profile file to write")
    build.add_argument("--categorical", help="comma-separated columns to treat as categories")
    build.add_argument("--features", help="comma-separated columns to profile (default: all)")
    build.add_argument("--prediction", help="the column holding the model's prediction")
    build.add_argument("--confidence", help="the column holding the model's confidence")
    build.add_argument("--bins", type=int, default=10, help="quantile bins per numeric feature")
    build.add_argument("--model-name", help="model name stored in the profile")
    show = psub.add_parser("show", help="describe a profile file")
    show.add_argument("file", help="a profile written by `inferwatch profile build`")
    show.add_argument("--json", action="store_true", help="print the full description as JSON")
    from .rules._cli import add_parser as add_rules

    add_rules(sub)
    from .dashboards._cli import add_parser as add_dashboard

    add_dashboard(sub)
    from .slo._cli import add_parser as add_budget

    add_budget(sub)
    from .status._cli import add_parser as add_serve_status

    add_serve_status(sub)
    from .status._cli import add_diagnose_parser

    add_diagnose_parser(sub)
    from .labels._cli import add_parser as add_labels

    add_labels(sub)
    from .runbook._cli import add_parser as add_runbook

    add_runbook(sub)
    return parser


def _build(args: argparse.Namespace) -> int:
    from .drift import build_profile

    profile = build_profile(
        args.data,
        categorical=_names(args.categorical),
        features=_names(args.features),
        prediction=args.prediction,
        confidence=args.confidence,
        bins=args.bins,
        model_name=args.model_name,
    )
    profile.save(args.out)
    kinds: dict[str, int] = {}
    for f in profile.features.values():
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    described = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"wrote {args.out}: {profile.n_rows} rows, {len(profile.features)} features "
          f"({described})")
    return EXIT_OK


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _show(args: argparse.Namespace) -> int:
    from .drift import load_profile

    summary = load_profile(args.file).summary()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return EXIT_OK
    print(f"{args.file}: {summary['rows']} rows, {len(summary['features'])} features, "
          f"created {summary['created_at'] or 'unknown'}")
    if summary["model_name"]:
        print(f"model: {summary['model_name']}")
    for section in ("features", "outputs"):
        if not summary[section]:
            continue
        print(f"{section}:")
        for name, info in summary[section].items():
            if info["kind"] == "numeric":
                detail = (f"mean {_fmt(info['mean'])} std {_fmt(info['std'])} "
                          f"range [{_fmt(info['min'])}, {_fmt(info['max'])}]")
            elif info["kind"] == "categorical":
                detail = f"{info['categories']} categories, top {info['top'][:3]}"
            else:
                detail = f"dim {info['dim']}"
            print(f"  {name:<24} {info['kind']:<12} missing {info['missing_rate']:.2%}  {detail}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "rules":
            from .rules._cli import run as rules

            return rules(args)
        if args.command == "dashboard":
            from .dashboards._cli import run as dashboard

            return dashboard(args)
        if args.command == "budget":
            from .slo._cli import run as budget

            return budget(args)
        if args.command == "diagnose":
            from .status._cli import run_diagnose

            return run_diagnose(args)
        if args.command == "labels":
            from .labels._cli import run as labels

            return labels(args)
        if args.command == "runbook":
            from .runbook._cli import run as runbook

            return runbook(args)
        if args.command == "serve-status":
            from .status._cli import run as serve_status

            return serve_status(args)
        if args.action == "build":
            return _build(args)
        return _show(args)
    except MissingDependencyError as exc:
        print(f"inferwatch: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY
    except (OSError, ValueError, TypeError) as exc:
        print(f"inferwatch: error: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
