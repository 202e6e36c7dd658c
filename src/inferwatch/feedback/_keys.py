"""Keys for the feedback helpers' deterministic decisions (holdout, review).

The secret is the one the log sampler uses (``sampling_key``, else derived
from the PII key: :func:`inferwatch._sampling.sampling_key_from_config`), or a
key passed in. Each use derives its own MAC with a domain prefix, so a
holdout decision, a review decision, a log sampling decision and a
pseudonym made with one secret never coincide.
"""

from __future__ import annotations

import threading
from typing import Any

from .._pii_hmac import HmacSha256
from .._pii_key import decode_key
from .._sampling import _DERIVE_PREFIX, sampling_key_from_config

__all__ = ["HOLDOUT", "PUBLIC_KEY", "REVIEW", "bound", "derived_mac", "secret_of", "top64"]

HOLDOUT = b"inferwatch-holdout-v1\x00"
REVIEW = b"inferwatch-review-v1\x00"
#: The key of the keyless review decision. It is in this source file, so it
#: protects nothing: it only keeps decisions the same in every replica.
PUBLIC_KEY = b"inferwatch-review-public-key-v1-not-a-secret"

_MAX_CACHED = 32
_cache: dict[tuple[bytes, bytes], HmacSha256] = {}
_lock = threading.Lock()


def secret_of(key: str | bytes | None, config: Any, what: str) -> bytes | None:
    """The secret for ``what``: derived from ``key`` when given (at least 32 bytes;
    ``hex:`` and ``base64:`` accepted), else the configuration's sampling key
    (itself derived, never the raw secret), else None."""
    if key is not None:
        if not isinstance(key, (str, bytes)):
            from .._errors import ConfigurationError

            raise ConfigurationError(
                f"{what}: key= takes the secret as text or bytes (at least 32 bytes; "
                f"'hex:...' and 'base64:...' accepted), not {type(key).__name__}"
            )
        # Derived as the configured sampling_key is, so key=K decides exactly as
        # a monitor configured with sampling_key=K does.
        return HmacSha256(decode_key(key, f"the key given to {what}"), _DERIVE_PREFIX).mac(b"")
    if config is None:
        return None
    return sampling_key_from_config(config)


def derived_mac(secret: bytes, prefix: bytes) -> HmacSha256:
    """HMAC-SHA256 under ``secret`` for the domain ``prefix`` (cached, padded states once)."""
    entry = (secret, prefix)
    mac = _cache.get(entry)
    if mac is None:
        mac = HmacSha256(secret, prefix)
        with _lock:
            if len(_cache) >= _MAX_CACHED:
                _cache.clear()
            _cache[entry] = mac
    return mac


def top64(digest: bytes) -> int:
    """The first 64 bits of a MAC, as the number a share is compared against."""
    return int.from_bytes(digest[:8], "big")


def bound(share: float) -> int:
    """Values of :func:`top64` below this fall in ``share`` (0 → none, 1 → all)."""
    return 1 << 64 if share >= 1.0 else int(share * float(1 << 64))
