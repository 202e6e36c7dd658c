"""A small YAML writer for rule files (mappings, lists, strings, numbers).

Rule files are plain data, so inferwatch writes them without a YAML package:
strings are written as JSON strings (valid YAML double-quoted scalars),
multi-line strings (PromQL) as literal blocks, keys as plain words.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dump"]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} to a rule file")


def _key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else json.dumps(key)


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and "\n" in item:
                out.append(f"{pad}{_key(key)}: |-")
                out.extend(f"{pad}  {line}" if line else "" for line in item.split("\n"))
            elif isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{_key(key)}:")
                out.extend(_lines(item, indent + 2))
            elif isinstance(item, (dict, list)):
                out.append(f"{pad}{_key(key)}: {'{}' if isinstance(item, dict) else '[]'}")
            else:
                out.append(f"{pad}{_key(key)}: {_scalar(item)}")
        return out
    if isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = _lines(item, indent + 2)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {_scalar(item)}")
        return out
    return [pad + _scalar(value)]


def dump(document: dict[str, Any], header: str = "") -> str:
    """The YAML text of ``document``, after ``header`` written as comment lines."""
    comments = [f"# {line}".rstrip() for line in header.splitlines()]
    return "\n".join([*comments, *_lines(document, 0)]) + "\n"
