"""Which models get a runbook, and where each one is written."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError
from ..rules._prometheus import RuleOptions
from ._anchors import file_stem
from ._render import render_runbook

__all__ = ["runbook_file_name", "runbook_models", "write_runbooks"]


def runbook_file_name(model: str) -> str:
    """The file a model's runbook is written to in a folder: ``<model>.md``.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become
    ``_`` (the rule generator's ``--runbook-doc`` with ``{model}`` does the
    same, so its links find the file).
    """
    return file_stem(model) + ".md"


def runbook_models(slos: Sequence[Any], models: Sequence[str] | None = None,
                   source: str = "the SLOs") -> list[str]:
    """The models to write runbooks for: ``models``, else those the SLOs name (sorted).

    Raises ``ConfigurationError`` when there are none, for an empty or
    repeated name, and for a model the SLOs do not know when they name models
    (a typo would otherwise give a runbook without its SLOs' alerts).
    """
    named = sorted({str(s.model) for s in slos if getattr(s, "model", None)})
    if not models:
        if not named:
            raise ConfigurationError(
                f"no model to write a runbook for: {source} name no model; pass --model NAME "
                "(repeat it for several models)" if slos else
                "no model to write a runbook for: pass --model NAME (or --slo FILE whose SLOs "
                "name their models)")
        return named
    out: list[str] = []
    for model in models:
        if not model.strip():
            raise ConfigurationError("--model is empty; give the model's name as the service "
                                     "reports it (the model.name label)")
        if model in out:
            raise ConfigurationError(f"model {model!r} is given twice")
        if named and model not in named:
            raise ConfigurationError(
                f"unknown model {model!r}: {source} name {', '.join(named)}; check the "
                "spelling, or leave --slo out for a runbook without SLOs")
        out.append(model)
    files = [runbook_file_name(m) for m in out]
    if len(set(files)) != len(files):
        raise ConfigurationError(f"models {', '.join(out)} would share a file name; rename "
                                 "one or write them one at a time with --out FILE")
    return out


def write_runbooks(out: str | os.PathLike[str], models: Sequence[str], slos: Sequence[Any] = (),
                   options: RuleOptions | None = None, *, status_url: str | None = None,
                   slo_file: str | None = None,
                   generated_at: datetime | None = None) -> list[Path]:
    """Write the runbook of each model; returns the files written.

    ``out`` ending in ``.md`` is one file (one model only); anything else is
    a folder (created if needed) that gets ``<model>.md`` per model
    (:func:`runbook_file_name`). The other arguments are
    :func:`render_runbook`'s.
    """
    target = Path(out)
    texts = {m: render_runbook(m, slos, options, status_url=status_url, slo_file=slo_file,
                               generated_at=generated_at) for m in models}
    if target.suffix.lower() == ".md" and not target.is_dir():
        if len(texts) != 1:
            raise ConfigurationError(
                f"{len(texts)} models ({', '.join(texts)}) but --out {os.fspath(out)!r} is one "
                "file: give a folder to write one file per model, or one --model")
        paths = {next(iter(texts)): target}
    else:
        paths = {m: target / runbook_file_name(m) for m in texts}
    written = []
    for model, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[model], encoding="utf-8")
        written.append(path)
    return written
