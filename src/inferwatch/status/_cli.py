"""``inferwatch serve-status``: the status page of this process, served alone."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
from typing import Any

__all__ = ["add_parser", "run"]

#: Environment variable read for the token when ``--token`` is not given (a
#: token on the command line is visible to every user of the machine in ``ps``).
TOKEN_ENV = "INFERWATCH_STATUS_TOKEN"


def add_parser(sub: Any) -> None:
    """Add ``serve-status`` to the command's subparsers."""
    p = sub.add_parser(
        "serve-status", help="serve the status page (HTML and JSON) of this process",
        description="Serve GET /inferwatch (the status page) and GET /inferwatch/status "
                    "(JSON) with the standard library, for a process without a web server. "
                    "--import runs your module first (it configures inferwatch and starts "
                    "its work on a thread); the page shows the process default monitor.")
    p.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--token", help=f"bearer token every request must carry (default: "
                   f"${TOKEN_ENV} when set, else none)")
    p.add_argument("--import", dest="module", metavar="MODULE",
                   help="import this module first (e.g. myservice.worker)")
    p.add_argument("--refresh", type=int, default=30,
                   help="seconds between page reloads (0: never; default 30)")


def run(args: argparse.Namespace) -> int:
    from . import serve

    if args.module:
        sys.path.insert(0, os.getcwd())
        importlib.import_module(args.module)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    server = serve(host=args.host, port=args.port, token=token, refresh=args.refresh,
                   background=True)
    host, port = server.server_address[:2]
    print(f"inferwatch: status page at http://{host!s}:{port}/inferwatch"
          f"{' (bearer token required)' if token else ''}", flush=True)
    try:
        threading.Event().wait()  # the server runs on its thread until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


def add_diagnose_parser(sub: Any) -> None:
    """Add ``diagnose`` to the command's subparsers."""
    p = sub.add_parser(
        "diagnose", help="walk the on-call checks against a live status endpoint",
        description="Fetch URL's status document (GET /inferwatch/status) and print each "
                    "check per model version (service health, prediction distribution, "
                    "input data quality, upstream freshness, recent version changes, then "
                    "inferwatch's own losses) as healthy, degraded or failing with the "
                    "evidence, worst first. Exit code 0: nothing failing; 1: a check fails; "
                    "3: the endpoint cannot be read.")
    p.add_argument("url", help="the service (http://host:port) or its status URL")
    p.add_argument("--token", help=f"bearer token for the status route (default: "
                   f"${TOKEN_ENV} when set)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (default 10)")


def run_diagnose(args: argparse.Namespace) -> int:
    import urllib.parse

    from ..slo._cli import STATUS_PATH, Unreachable, _get_json, _url, _Usage
    from ._diagnose import diagnose, render

    token = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        parts = _url(args.url, "URL")
        if parts.path in ("", "/"):
            parts = parts._replace(path=STATUS_PATH)
        target = urllib.parse.urlunsplit(parts)
        doc = _get_json(target, args.timeout, token)
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
            raise Unreachable(f"{target} is not an inferwatch status document")
    except _Usage as exc:
        print(f"inferwatch diagnose: {exc}", file=sys.stderr)
        return 2
    except Unreachable as exc:
        print(f"inferwatch diagnose: {exc}", file=sys.stderr)
        return 3
    checks = diagnose(doc)
    print(render(checks))
    return 1 if any(c.state == "failing" for c in checks) else 0
