"""The pseudonymiser a monitor's configuration asks for, with its key loaded."""

from __future__ import annotations

from typing import Any

from ._config import Config

__all__ = ["build_pseudonymizer"]


def build_pseudonymizer(config: Config) -> Any:
    """A ``Pseudonymizer`` for ``config``, or None when no PII option is set."""
    if not (config.pii_fields or config.drop_fields or config.pii_detectors
            or config.pii_key or config.pii_key_file):
        return None
    import secrets

    from ._pii import PiiKey, Pseudonymizer, load_pii_key

    keyed = bool(config.pii_fields or config.pii_detectors or config.pii_key
                 or config.pii_key_file)
    if keyed:
        key = load_pii_key(
            key=config.pii_key,
            key_file=config.pii_key_file,
            key_id=config.pii_key_id,
            allow_ephemeral=config.pii_ephemeral_key,
        )
    else:
        # Only dropping fields: no pseudonym is written, so no key is needed;
        # a throwaway one scrubs emails/phones out of exception messages.
        key = PiiKey("0", secrets.token_bytes(32))
    return Pseudonymizer(
        key,
        fields=config.pii_fields,
        drop_fields=config.drop_fields,
        detect_emails="email" in config.pii_detectors,
        detect_phones="phone" in config.pii_detectors,
        hash_features=keyed and not (config.pii_ephemeral_key and not (
            config.pii_key or config.pii_key_file)),
    )
