"""``holdout``: a stable share of units kept away from the model.

A unit (a user, an account, a device) is in the holdout when the first 64
bits of a keyed HMAC-SHA256 of its id, under the holdout's name, fall below
``share * 2**64``. Every process and replica holding the key decides alike,
a unit stays in (or out) for as long as the key and name stay the same, and
raising the share only adds units. A plain hash is never used: anyone who
knows the ids could then tell (or choose) which units are held out.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .. import _process
from .._errors import ConfigurationError
from .._pii_hmac import HmacSha256
from .._pii_pseudonym import _canonical
from ._keys import HOLDOUT, bound, derived_mac, secret_of, top64

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = ["check_share", "holdout"]

#: Longest holdout name; a name is an identifier, not free text.
MAX_NAME_CHARS = 128

# The derived MAC of each key given as key= (a few at most), and of the
# process monitor's sampling key, per monitor (None: it has no key).
_MAX_KEYS = 16
_by_key: dict[str | bytes, HmacSha256] = {}
_by_monitor: weakref.WeakKeyDictionary[Monitor, HmacSha256 | None] = (
    weakref.WeakKeyDictionary())
_last: tuple[weakref.ref[Monitor], HmacSha256 | None] | None = None


def check_share(share: Any, what: str = "share") -> float:
    """``share`` as a float in [0, 1], or a ``ConfigurationError`` saying what to pass."""
    if isinstance(share, bool) or not isinstance(share, (int, float)):
        raise ConfigurationError(
            f"{what} must be a number between 0 and 1 (0.05 is 5 %), got {type(share).__name__}")
    value = float(share)
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise ConfigurationError(f"{what} must be between 0 and 1 (0.05 is 5 %), got {share!r}")
    return value


def _unit_bytes(unit_id: Any) -> bytes:
    if isinstance(unit_id, bool) or not isinstance(unit_id, (str, bytes, int)):
        raise TypeError(
            f"unit_id must be a str, bytes or int (a user or account id), "
            f"got {type(unit_id).__name__}"
        )
    return _canonical(unit_id)  # 42, "42" and b"42" are the same unit


def _mac(key: str | bytes | None) -> HmacSha256:
    global _last
    if key is not None:
        mac = _by_key.get(key)
        if mac is None:  # decoding and deriving cost ~10 µs: once per key
            secret = secret_of(key, None, "holdout()")  # a given key decodes or raises
            mac = derived_mac(secret or b"", HOLDOUT)
            if len(_by_key) >= _MAX_KEYS:
                _by_key.clear()
            _by_key[key] = mac
        return mac
    monitor = _process._default or _process.get_monitor()
    last = _last
    if last is not None and last[0]() is monitor:  # the common case: one process monitor
        mac = last[1]
    else:
        try:
            mac = _by_monitor[monitor]
        except KeyError:
            secret = secret_of(None, monitor.config, "holdout()")
            mac = None if secret is None else derived_mac(secret, HOLDOUT)
            _by_monitor[monitor] = mac
        _last = (weakref.ref(monitor), mac)
    if mac is None:
        raise ConfigurationError(
            "holdout() needs a secret key so that units cannot be told apart by their ids: "
            "pass key=... (at least 32 bytes; 'hex:...' or 'base64:...' accepted), or "
            "configure sampling_key (INFERWATCH_SAMPLING_KEY) or a PII key "
            "(INFERWATCH_PII_KEY / INFERWATCH_PII_KEY_FILE), shared by every replica"
        )
    return mac


def holdout(unit_id: Any, share: float = 0.05, *, key: str | bytes | None = None,
            name: str = "default") -> bool:
    """Whether ``unit_id`` belongs to the holdout group: True for a stable ``share`` of units.

    ::

        if inferwatch.feedback.holdout(user_id, 0.05, name="ranker-v4"):
            inferwatch.set_attribute("feedback.group", "holdout")
            return default_ranking(items)          # no model for 5 % of users
        inferwatch.set_attribute("feedback.group", "treated")
        return model.rank(items)

    Deterministic across calls, processes and replicas: a keyed HMAC-SHA256
    of the unit id (``42``, ``"42"`` and ``b"42"`` are one unit) under
    ``name``, so separate holdouts (different ``name``) are independent, and
    raising ``share`` keeps every unit already held out. ``key`` is the
    secret (at least 32 bytes; ``hex:``/``base64:`` accepted); without one,
    the process monitor's sampling key is used (``sampling_key``, else
    derived from the PII key). With neither it raises
    ``ConfigurationError``: a plain hash would let anyone who knows an id
    tell its group. A few µs per call (one HMAC-SHA256).
    """
    value = check_share(share)
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise ConfigurationError(
            f"name must be 1 to {MAX_NAME_CHARS} characters naming the holdout, got {name!r}")
    data = _unit_bytes(unit_id)
    mac = _mac(key)  # checked whatever the share, so a missing key shows at once
    if value <= 0.0 or value >= 1.0:
        return value >= 1.0
    label = name.encode("utf-8", "surrogatepass")
    return top64(mac.mac(len(label).to_bytes(2, "big") + label + data)) < bound(value)
