"""Reading a generated runbook as GitHub would: its headings, their anchors, links and code."""

from __future__ import annotations

import re
import unicodedata

#: Labels every series has or PromQL makes: the scrape's and the histogram buckets'.
ALWAYS = {"le", "instance", "job"}


def _outside_fences(markdown: str) -> list[str]:
    lines, fence = [], ""
    for line in markdown.splitlines():
        opener = re.match(r"^(`{3,})", line)
        if fence:
            if line.strip() == fence:
                fence = ""
            continue
        if opener:
            fence = opener.group(1)
            continue
        lines.append(line)
    return lines


def rendered(inline: str) -> str:
    """The text of inline Markdown as it renders (escapes and code-span ticks gone)."""
    text = re.sub(r"(`+)\s?(.*?)\s?\1", r"\2", inline)
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def slug(text: str) -> str:
    """github-slugger, written here on its own (not the code under test)."""
    out = []
    for char in text.strip().lower():
        if char == " ":
            out.append("-")
        elif char in "-_" or unicodedata.category(char)[0] in "LNM":
            out.append(char)
    return "".join(out)


def headings(markdown: str) -> list[str]:
    """Rendered heading texts in document order (ATX headings outside code blocks)."""
    found = []
    for line in _outside_fences(markdown):
        match = re.match(r"^(#{1,6}) (.*?)\s*$", line)
        if match:
            found.append(rendered(match.group(2)))
    return found


def anchors(markdown: str) -> list[str]:
    """The ids GitHub gives the headings: repeats get -1, -2 ..."""
    seen: set[str] = set()
    out = []
    for text in headings(markdown):
        base = candidate = slug(text)
        n = 0
        while candidate in seen:
            n += 1
            candidate = f"{base}-{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def links(markdown: str) -> list[str]:
    """Every link target outside code blocks."""
    return [m for line in _outside_fences(markdown) for m in re.findall(r"\]\(([^)\s]+)\)", line)]


def fenced(markdown: str, language: str) -> list[str]:
    """The contents of the code blocks fenced with ``language``."""
    return [m.group(2) for m in re.finditer(rf"(?ms)^(`{{3,}}){language}\n(.*?)\n\1$", markdown)]


def section(markdown: str, heading: str) -> str:
    """The text under a heading (by rendered text) up to the next heading of any level."""
    lines = markdown.splitlines()
    for n, line in enumerate(lines):
        match = re.match(r"^(#{1,6}) (.*?)\s*$", line)
        if match and rendered(match.group(2)) == heading:
            rest = []
            fence = ""
            for other in lines[n + 1:]:
                opener = re.match(r"^(`{3,})", other)
                if fence:
                    fence = "" if other.strip() == fence else fence
                elif opener:
                    fence = opener.group(1)
                elif re.match(r"^#{1,6} ", other):
                    break
                rest.append(other)
            return "\n".join(rest)
    raise AssertionError(f"no heading {heading!r}")


def metric_tokens(expr: str) -> list[str]:
    """The series names an expression reads (recording rules' names included)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\b(?:by|on|ignoring) \([^)]*\)", "", text)  # grouping labels
    return re.findall(r"(?<![\w:$])(?:inferwatch|rpc)[\w:]*", text)


def used_labels(expr: str) -> set[str]:
    labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", expr))
    for group in re.findall(r"\b(?:by|on|ignoring) \(([^)]*)\)", expr):
        labels |= {k.strip() for k in group.split(",") if k.strip()}
    return labels
