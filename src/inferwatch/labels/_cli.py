"""``inferwatch labels load FILE --status URL``: labels from a file, posted in batches.

::

    inferwatch labels load labels.csv --status http://10.0.0.7:8000 --token "$TOKEN"
    inferwatch labels load reviews.jsonl --status http://10.0.0.7:8000/inferwatch --source review

The file is CSV (a header row with ``inference_id`` and ``label``, and
optionally ``timestamp``, ``model``, ``source``) or JSON lines (``.jsonl``,
``.ndjson``: one object per line with the same keys). In CSV cells an
integer or decimal number becomes a number, anything else stays text (use
JSON lines for booleans). Labels are posted to ``POST {URL}/labels`` as JSON
(``{"labels": [...]}``), ``--batch`` at a time; a bare ``http://host:port``
gets ``/inferwatch``.

Exit codes: 0 every batch accepted, 1 the file cannot be read or a batch
was refused (the server's message is printed with the line numbers), 2 bad
usage, 3 the server cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

__all__ = ["add_parser", "run"]

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
_KEYS = ("inference_id", "label", "timestamp", "model", "source")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


class _Refused(Exception):
    pass


class _Unreachable(Exception):
    pass


def add_parser(sub: Any) -> None:
    """Add ``labels load`` to the command's subparsers."""
    labels = sub.add_parser("labels", help="send delayed labels to a running server",
                            description="Delayed ground truth for a running server's label "
                                        "tracker (POST /inferwatch/labels).")
    lsub = labels.add_subparsers(dest="action", required=True)
    load = lsub.add_parser(
        "load", help="post labels from a CSV or JSON lines file",
        description="Post the labels of a CSV file (header: inference_id, label and "
                    "optionally timestamp, model, source) or a JSON lines file (.jsonl, "
                    ".ndjson) to URL/labels, --batch at a time.")
    load.add_argument("file", help="a .csv file with a header row, or .jsonl / .ndjson")
    load.add_argument("--status", required=True, metavar="URL",
                      help="the server's status prefix (http://host:port[/inferwatch])")
    load.add_argument("--token", default=os.environ.get("INFERWATCH_STATUS_TOKEN"),
                      help="bearer token (default: $INFERWATCH_STATUS_TOKEN)")
    load.add_argument("--batch", type=int, default=1000, help="labels per request (default "
                      "1000, at most 10000)")
    load.add_argument("--source", choices=("organic", "review"),
                      help="the source of labels whose row names none")
    load.add_argument("--model", help="the model of labels whose row names none")
    load.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                      help="per request (default 30)")


def _cell(text: str) -> Any:
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, label object)`` for each row of the file."""
    lower = path.lower()
    with open(path, encoding="utf-8", newline="") as handle:
        if lower.endswith((".jsonl", ".ndjson", ".json")):
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: each line must be a JSON object")
                yield number, row
            return
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [k for k in ("inference_id", "label") if k not in header]
        if missing:
            raise ValueError(f"{path}: the header row lacks {', '.join(missing)} "
                             f"(it has {', '.join(header) or 'nothing'})")
        for row in reader:
            number = reader.line_num
            out: dict[str, Any] = {}
            for key in _KEYS:
                value = row.get(key)
                if value is None or value.strip() == "":
                    continue
                out[key] = value.strip() if key in ("inference_id", "model", "source") else (
                    _cell(value))
            yield number, out


def _endpoint(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _Usage(f"--status {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000")
    path = parts.path.rstrip("/") or "/inferwatch"
    if path.endswith("/labels"):
        path = path[: -len("/labels")]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/labels", "", ""))


class _Usage(Exception):
    pass


def _post(url: str, labels: list[dict[str, Any]], token: str | None, timeout: float) -> Any:
    body = json.dumps({"labels": labels}, allow_nan=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        # http(s) only (checked by _endpoint); proxies from the environment, as curl does.
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):  # a plain-text answer
            detail = json.loads(detail).get("error", detail)
        raise _Refused(f"HTTP {exc.code}: {detail.strip()}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _Unreachable(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


def run(args: argparse.Namespace) -> int:
    """``inferwatch labels load``; returns the exit code."""
    if not 1 <= args.batch <= 10_000:
        print("inferwatch: --batch must be 1 to 10000", file=sys.stderr)
        return EXIT_USAGE
    try:
        url = _endpoint(args.status)
    except _Usage as exc:
        print(f"inferwatch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sent = batches = 0
    batch: list[dict[str, Any]] = []
    lines: list[int] = []

    def flush() -> None:
        nonlocal sent, batches
        if not batch:
            return
        try:
            answer = _post(url, batch, args.token, args.timeout)
        except _Refused as exc:
            raise _Refused(f"lines {lines[0]}-{lines[-1]} refused, {exc}") from None
        sent += int(answer.get("accepted", len(batch))) if isinstance(answer, dict) else 0
        batches += 1
        batch.clear()
        lines.clear()

    try:
        for number, row in _rows(args.file):
            if args.source and "source" not in row:
                row["source"] = args.source
            if args.model and "model" not in row:
                row["model"] = args.model
            batch.append(row)
            lines.append(number)
            if len(batch) >= args.batch:
                flush()
        flush()
    except _Unreachable as exc:
        print(f"inferwatch: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except _Refused as exc:
        print(f"inferwatch: {args.file}: {exc} ({sent} labels accepted before)",
              file=sys.stderr)
        return EXIT_INPUT
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        print(f"inferwatch: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    print(f"sent {sent} labels from {args.file} to {url} in {batches} "
          f"request{'s' if batches != 1 else ''}")
    return EXIT_OK
