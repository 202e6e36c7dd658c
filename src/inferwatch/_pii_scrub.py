"""Find email addresses and phone numbers in free text, and replace them.

Used for exception messages (always), for logged strings when the detectors
are on, and for free-text metric attribute values (:func:`contains_pii`).

Emails are found by structure, not by a pattern of allowed characters, so
that long local parts and internationalised addresses (``josé@bücher.de``,
``用户@例子.广告``, punycode ``xn--`` labels, the ideographic full stop, the
full-width at sign U+FF20) are found too: around each ``@`` the local part is the run
of characters up to the nearest delimiter (white space, quotes, brackets,
``,;:=/|`` …), and the domain is the longest run of labels after it that ends
in a top-level domain of at least two letters. The scan is linear in the
text: each character is examined at most twice (once in the run left of an
``@``, once in the run right of one), and the only regular expression on that
path is a single character-class run, which cannot backtrack.

Phone numbers are matched by a pattern that never chooses where to split a
run of digits: its unbounded repetitions take whole runs between required
separators, so a failed attempt backtracks at most over the run it took.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import cast

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_SCAN_CHARS",
    "contains_pii",
    "cut_text",
    "email_spans",
    "has_at",
    "redact_message",
    "scrub_text",
    "sub_emails",
    "sub_phones",
]

#: Longest exception message kept in a log record, after redaction.
MAX_MESSAGE_CHARS = 256
#: Redaction scans at most this much of a message; the rest is cut anyway.
MAX_SCAN_CHARS = 4096

# Characters that end a local part or a domain. "@" (and its full-width
# forms) ends both: a run never crosses one, which keeps the scan linear.
_DELIMS = "\\s\\x00-\\x1f\\x7f<>()\\[\\]{},;:\"'`\\\\|/=?!*&^#~$"
_AT_CLASS = "@\uff20\ufe6b"
_RUN = re.compile(f"[^{_DELIMS}{_AT_CLASS}]*")
_TOKEN = re.compile(f"[^{_DELIMS}]*")  # a run that may hold "@": an address and its neighbours
# Label separators: "." and the forms IDNA maps to it (U+3002, U+FF0E, U+FF61).
_SEP = re.compile("[.\u3002\uff0e\uff61]")
_LETTERS = re.compile(r"[^\W\d_]*")
_LABEL = re.compile(r"[\w-]*")
_PUNYCODE = re.compile(r"xn--[a-z0-9-]+", re.IGNORECASE)
# The same domain rule for ASCII text, as one pattern: labels end in a
# required ".", so it never chooses where a label ends, and the top-level
# domain must not run on into host-name characters.
_ASCII_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9_-]+\.)+(?:xn--[A-Za-z0-9-]+|[A-Za-z]{2,})(?![A-Za-z0-9_-])"
)

# International numbers ("+44 20 7946 0958", "+14155550100", "+33 (0)1 23 45 67
# 89") and grouped national ones ("(415) 555-0100", "06 12 34 56 78"). An
# unbroken run of digits without "+" is not matched: ids and timestamps look
# the same. The international form takes whole digit runs (``\d+`` between
# required separators), never a choice of where to split one: a split is
# what made an earlier pattern slow on long runs of digits (about 50 µs per
# "+" followed by thirty digits). Digit counts are checked after the match.
_PHONE_RE = re.compile(
    r"(?<![\w.+/:-])"
    r"(?:\+\d+(?:[ .-]?\(\d+\)[ .-]?\d+)?(?:[ .-]\d+)*"
    r"|\(\d{2,4}\)[ .-]?\d{2,4}(?:[ .-]\d{2,4}){1,4}"
    r"|\d{2,4}(?:[ .-]\d{2,4}){2,5})"
    r"(?![\w]|[.:/-]\d)"
)
_NOT_PHONE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z|\d{1,3}(?:\.\d{1,3}){3}\Z")


def _run_end(text: str, start: int) -> int:
    """End of the run of non-delimiter characters starting at ``start``."""
    return cast("re.Match[str]", _RUN.match(text, start)).end()


def _run_with_marks(pattern: re.Pattern[str], label: str) -> int:
    """Length of the leading run of ``pattern``'s characters, combining marks included.

    ``re``'s classes know no combining marks (the vowel signs of ``कॉम``); a
    mark is taken wherever it follows a character of the run.
    """
    i = 0
    n = len(label)
    while i < n:
        i = cast("re.Match[str]", pattern.match(label, i)).end()
        if i == 0 or i == n or unicodedata.category(label[i])[0] != "M":
            break
        i += 1
    return i


def _tld_length(label: str) -> int:
    """How many leading characters of ``label`` make a top-level domain (0: none).

    Letters of any script and their combining marks, or an ``xn--`` punycode
    label; at least two characters.
    """
    puny = _PUNYCODE.match(label)
    if puny is not None:
        return puny.end()
    i = _run_with_marks(_LETTERS, label)
    return i if i >= 2 else 0


def _domain_end(text: str, start: int, end: int) -> int:
    """End of the longest domain in ``text[start:end]``, or -1 when there is none.

    Labels are split at the separators; the domain is the longest run of
    host-name labels (letters, digits, ``-``, ``_``, any script) that ends in
    a top-level domain. A label that goes on past its letters with other
    characters (``com…``) ends the domain after its letters.
    """
    best = -1
    pos = start
    for index, label in enumerate(_SEP.split(text[start:end])):
        if not label:
            break
        tld = _tld_length(label)
        if tld == len(label):
            if index:
                best = pos + tld
        elif _run_with_marks(_LABEL, label) != len(label):
            if index and tld:
                best = pos + tld
            break
        pos += len(label) + 1
    return best


_AT_FORMS = str.maketrans({"\uff20": "@", "\ufe6b": "@"})


def has_at(text: str) -> bool:
    """Whether ``text`` holds an at sign (any of its forms): the cheap test before a scan."""
    return "@" in text or "\uff20" in text or "\ufe6b" in text


def email_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every email address in ``text``, in order, not overlapping."""
    spans: list[tuple[int, int]] = []
    if "\uff20" in text or "\ufe6b" in text:
        text = text.translate(_AT_FORMS)  # one "@" to look for; positions are unchanged
    elif "@" not in text:
        return spans
    find = text.find
    sep = _SEP.search
    ascii_domain = _ASCII_DOMAIN.match if text.isascii() else None
    floor = 0  # the run left of an "@" never reaches back past the previous one
    at = find("@")
    while at >= 0:
        run_end = _run_end(text, at + 1)
        if run_end > at + 1 and sep(text, at + 1, run_end) is not None:
            if ascii_domain is not None:
                domain = ascii_domain(text, at + 1, run_end)
                end = -1 if domain is None else domain.end()
            else:
                end = _domain_end(text, at + 1, run_end)
            if end > 0:
                start = at - _run_end(text[floor:at][::-1], 0)
                if start < at:
                    if spans and start <= spans[-1][1]:
                        start = spans[-1][0]
                        spans.pop()
                    spans.append((start, end))
        floor = at + 1
        at = find("@", run_end if run_end > at + 1 else at + 1)
    return spans


def sub_emails(text: str, replace: Callable[[str], str]) -> str:
    """``text`` with every email address ``e`` replaced by ``replace(e)``."""
    spans = email_spans(text)
    if not spans:
        return text
    out = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(replace(text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


def _is_phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 7 <= digits <= 15 and _NOT_PHONE_RE.match(text) is None


def sub_phones(text: str, replace: Callable[[str], str]) -> str:
    """``text`` with every phone number ``p`` replaced by ``replace(p)``."""
    first = _PHONE_RE.search(text)
    if first is None:  # most text: one search, no substitution machinery
        return text
    out = []
    last = 0
    for match in _PHONE_RE.finditer(text, first.start()):
        found = match.group(0)
        if _is_phone(found):
            out.append(text[last:match.start()])
            out.append(replace(found))
            last = match.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _email_placeholder(_: str) -> str:
    return "<email>"


def _phone_placeholder(_: str) -> str:
    return "<phone>"


def scrub_text(text: str) -> str:
    """Replace email addresses and phone numbers in ``text`` by ``<email>`` / ``<phone>``.

    The keyless scrubber, used when no pseudonymiser is configured.

    >>> scrub_text("mail josé.garcía@bücher.de or +44 20 7946 0958")
    'mail <email> or <phone>'
    """
    if "@" in text or "\uff20" in text or "\ufe6b" in text:
        text = sub_emails(text, _email_placeholder)
    if _PHONE_RE.search(text) is None:  # the common case, without a call more
        return text
    return sub_phones(text, _phone_placeholder)


def contains_pii(text: str) -> bool:
    """Whether ``text`` holds an email address or a phone number that :func:`scrub_text` finds.

    Cheap enough for every new value of a free-text metric attribute: a text
    without ``@`` costs one scan for it and one phone-pattern search.

    >>> contains_pii("tenant acme"), contains_pii("ask bob@example.org")
    (False, True)
    """
    if email_spans(text):
        return True
    return any(_is_phone(m.group(0)) for m in _PHONE_RE.finditer(text))


def cut_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the token cut in two dropped whole.

    A plain cut can leave the head of an address (``bob@exa``) that no
    detector recognises any more; this drops the run of non-delimiter
    characters the cut went through, so what is kept is scrubbed as it was.
    Use it before :func:`contains_pii` or :func:`scrub_text` on a capped value.

    >>> cut_text("to: bob@example.org", 12)
    'to: '
    """
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = cast("re.Match[str]", _TOKEN.match(head[::-1])).end()
    return head[: len(head) - cut]


def scan_window(message: str) -> str:
    """The part of ``message`` that redaction scans: its first ``MAX_SCAN_CHARS``, cut
    with :func:`cut_text`."""
    return cut_text(message, MAX_SCAN_CHARS)


def truncate(text: str) -> str:
    """``text`` cut to ``MAX_MESSAGE_CHARS`` characters, marked with an ellipsis."""
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 1] + "…"


def redact_message(message: str) -> str:
    """Keyless redaction of a free-text (exception) message, cut to 256 characters."""
    return truncate(scrub_text(scan_window(message)))
