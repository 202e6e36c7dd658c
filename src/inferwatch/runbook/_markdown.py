"""Markdown text: escaping configured names, code spans and blocks, tables."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["code", "escape", "fence", "link", "table"]

# Characters that can start markup inside a line (headings, emphasis, links, HTML,
# tables, strike-through, entities); every other one is shown as it is.
_MARKUP = re.compile(r"([\\`*_\[\]<>&|~#])")


def escape(text: str) -> str:
    """``text`` as literal Markdown: what renders is exactly ``text``."""
    return _MARKUP.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))


def code(text: str) -> str:
    """An inline code span around ``text``, whatever backticks it holds."""
    text = " ".join(str(text).split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, language: str = "") -> str:
    """A fenced code block (longer fences than any run of backticks inside)."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def link(text: str, target: str) -> str:
    """``[text](target)``, the text escaped and the target's spaces and parentheses encoded."""
    target = target.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"[{escape(text)}]({target})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table; cells are Markdown already (escape them first where needed)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
