"""The pseudonymisation key: loaded from a value, a secret file, or at random.

A key is an id that appears in output (``k<key_id>:...``) and secret bytes
that never do, ``repr`` and pickling included.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import warnings
from typing import Any

from ._errors import ConfigurationError

__all__ = ["MIN_KEY_BYTES", "PiiEphemeralKeyWarning", "PiiKey", "decode_key", "load_pii_key"]

MIN_KEY_BYTES = 32

_GENERATE_HINT = (
    "generate one with: python -c \"import secrets; print('hex:' + secrets.token_hex(32))\""
)
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")


class PiiEphemeralKeyWarning(RuntimeWarning):
    """A random key was generated: pseudonyms will not match across restarts or replicas."""


class PiiKey:
    """A pseudonymisation key: an id that appears in output, and secret bytes that never do."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, key_id: str, secret: bytes) -> None:
        if not isinstance(key_id, str) or not _KEY_ID_RE.match(key_id):
            raise ConfigurationError(
                f"PII key id {key_id!r} is invalid: use 1-32 letters, digits, '.', '_' or '-' "
                "(it is written into every pseudonym, e.g. k1:..., to tell keys apart)"
            )
        if len(secret) < MIN_KEY_BYTES:
            raise ConfigurationError(
                f"PII key is {len(secret)} bytes; at least {MIN_KEY_BYTES} are needed. "
                + _GENERATE_HINT
            )
        self.key_id = key_id
        self._secret = bytes(secret)

    @property
    def secret(self) -> bytes:
        """The key bytes. Pass them only to an HMAC; never log or print them."""
        return self._secret

    def __repr__(self) -> str:
        return f"PiiKey(key_id={self.key_id!r}, secret=<{len(self._secret)} bytes hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would copy the secret into whatever stores the pickle.
        raise TypeError("PiiKey cannot be pickled; load it from its source in each process")


def _decode_text(text: str, source: str) -> bytes:
    try:
        if text.startswith("hex:"):
            return bytes.fromhex(text[4:])
        if text.startswith("base64:"):
            body = text[7:].strip()
            if "-" in body or "_" in body:
                return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (ValueError, binascii.Error):
        # The message must not quote the key text.
        raise ConfigurationError(
            f"{source} has a hex: or base64: prefix but does not decode; " + _GENERATE_HINT
        ) from None
    return text.encode("utf-8")


def _decode_bytes(data: bytes, source: str) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return _decode_text(text, source)


def decode_key(key: str | bytes, source: str) -> bytes:
    """A key's bytes from its configured form, at least 32 of them.

    Text is used as its UTF-8 bytes; ``hex:`` and ``base64:`` prefixes give
    encoded keys; bytes that are not UTF-8 are used raw. ``source`` names
    where the key came from in the error (never the key itself).
    """
    raw = _decode_text(key, source) if isinstance(key, str) else _decode_bytes(key, source)
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"{source} is {len(raw)} bytes; at least {MIN_KEY_BYTES} are needed. "
            + _GENERATE_HINT
        )
    return raw


def load_pii_key(
    *,
    key: str | bytes | None,
    key_file: str | None,
    key_id: str,
    allow_ephemeral: bool,
) -> PiiKey:
    """Build the pseudonymisation key from a value, a secret file, or (if allowed) at random.

    ``key`` wins over ``key_file``; an empty value counts as absent. Text keys
    are used as their UTF-8 bytes and must be at least 32 bytes long; ``hex:``
    and ``base64:`` prefixes give encoded keys that must decode to at least 32
    bytes. A key file has its trailing newline stripped.

    Raises :class:`~inferwatch._errors.ConfigurationError` for a short or
    undecodable key, an unreadable file, or no key at all when
    ``allow_ephemeral`` is false. With ``allow_ephemeral``, a missing key is
    replaced by 32 random bytes and :class:`PiiEphemeralKeyWarning` is issued.

    >>> load_pii_key(key="hex:" + "ab" * 32, key_file=None, key_id="1",
    ...              allow_ephemeral=False)
    PiiKey(key_id='1', secret=<32 bytes hidden>)
    """
    if key:
        raw = decode_key(key, "PII key from the key argument (INFERWATCH_PII_KEY)")
    elif key_file:
        source = f"PII key from key file {key_file!r}"
        try:
            with open(key_file, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read PII key file {key_file!r} ({exc.strerror or type(exc).__name__}); "
                "check INFERWATCH_PII_KEY_FILE and the file's permissions"
            ) from None
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        if not data:
            raise ConfigurationError(f"PII key file {key_file!r} is empty; " + _GENERATE_HINT)
        raw = decode_key(data, source)
    elif allow_ephemeral:
        warnings.warn(
            "no PII key configured: using a random key for this process, so pseudonyms will "
            "differ across restarts and replicas and cannot be joined; set INFERWATCH_PII_KEY "
            "or INFERWATCH_PII_KEY_FILE to keep them stable",
            PiiEphemeralKeyWarning,
            stacklevel=2,
        )
        return PiiKey(key_id, secrets.token_bytes(MIN_KEY_BYTES))
    else:
        raise ConfigurationError(
            "no PII key configured: set INFERWATCH_PII_KEY (or INFERWATCH_PII_KEY_FILE, a file "
            f"holding the key) to a secret of at least {MIN_KEY_BYTES} bytes; " + _GENERATE_HINT
        )
    return PiiKey(key_id, raw)
