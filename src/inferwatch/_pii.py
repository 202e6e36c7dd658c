"""Personal data in inferwatch's output: the names the rest of the SDK imports.

Each job lives in a module of its own; this module gathers their public
names so that ``from inferwatch._pii import ...`` keeps working:

- :mod:`._pii_key`: the key (loaded from a value, a secret file, or at random);
- :mod:`._pii_hmac`: HMAC-SHA256 with its padded key states computed once;
- :mod:`._pii_pseudonym`: pseudonymising, dropping and scrubbing record values;
- :mod:`._pii_scrub`: finding emails and phone numbers in free text (no key);
- :mod:`._pii_features`: the canonical encoding behind keyed feature hashes.

>>> key = load_pii_key(key="hex:" + "ab" * 32, key_file=None, key_id="1",
...                    allow_ephemeral=False)
>>> Pseudonymizer(key, fields=("user_id",)).apply({"user_id": "alice"})["user_id"][:3]
'k1:'
"""

from __future__ import annotations

from ._pii_key import MIN_KEY_BYTES, PiiEphemeralKeyWarning, PiiKey, load_pii_key
from ._pii_pseudonym import Pseudonymizer
from ._pii_scrub import MAX_MESSAGE_CHARS, contains_pii, cut_text, scrub_text
from ._pii_scrub import redact_message as _redact_keyless

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MIN_KEY_BYTES",
    "PiiEphemeralKeyWarning",
    "PiiKey",
    "Pseudonymizer",
    "contains_pii",
    "cut_text",
    "load_pii_key",
    "redact_message",
    "scrub_text",
]

def redact_message(message: str, pseudonymizer: Pseudonymizer | None = None) -> str:
    """Redact a free-text (exception) message and cut it to 256 characters.

    With a pseudonymiser, emails and phone numbers become pseudonyms and
    configured ``name=value`` fields are pseudonymised or dropped; without
    one, they become ``<email>`` / ``<phone>``.
    """
    if pseudonymizer is not None:
        return pseudonymizer.redact_message(message)
    return _redact_keyless(message)
