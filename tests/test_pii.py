"""Keyed pseudonymisation: key loading, pseudonyms, scrubbing, feature hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inferwatch._errors import ConfigurationError
from inferwatch._pii import (
    PiiEphemeralKeyWarning,
    PiiKey,
    Pseudonymizer,
    load_pii_key,
    redact_message,
    scrub_text,
)
from inferwatch._pii_hmac import HmacSha256

SECRET = bytes(range(100, 132))
HEX_KEY = "hex:" + SECRET.hex()
CANARY_EMAIL = "canary.user@example.org"
CANARY_ID = "canary-user-8675309"


def key_encodings(secret: bytes) -> list[str]:
    """Every text form a key's bytes could leak in."""
    return [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        secret.decode("latin-1"),
        repr(secret),
    ]


def make_key(key_id: str = "1", secret: bytes = SECRET) -> PiiKey:
    return load_pii_key(
        key="hex:" + secret.hex(), key_file=None, key_id=key_id, allow_ephemeral=False
    )


# -- key loading -------------------------------------------------------------------


def test_text_key_of_32_bytes_is_accepted() -> None:
    key = load_pii_key(key="x" * 32, key_file=None, key_id="a", allow_ephemeral=False)
    assert key.secret == b"x" * 32
    assert key.key_id == "a"


@pytest.mark.parametrize(
    "text",
    [
        HEX_KEY,
        "base64:" + base64.b64encode(SECRET).decode(),
        "base64:" + base64.urlsafe_b64encode(SECRET).decode().rstrip("="),
    ],
)
def test_encoded_keys_decode_to_their_bytes(text: str) -> None:
    key = load_pii_key(key=text, key_file=None, key_id="1", allow_ephemeral=False)
    assert key.secret == SECRET


def test_bytes_key_is_used_raw() -> None:
    key = load_pii_key(key=SECRET, key_file=None, key_id="1", allow_ephemeral=False)
    assert key.secret == SECRET


@pytest.mark.parametrize("text", ["x" * 31, "hex:" + "ab" * 31, "base64:" + "QUJD"])
def test_short_key_is_refused_with_a_recipe(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"at least 32 .*secrets.token_hex") as info:
        load_pii_key(key=text, key_file=None, key_id="1", allow_ephemeral=False)
    assert text not in str(info.value)


@pytest.mark.parametrize("text", ["hex:zz" + "0" * 62, "base64:!!!notbase64!!!" * 3])
def test_undecodable_key_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(ConfigurationError, match="does not decode") as info:
        load_pii_key(key=text, key_file=None, key_id="1", allow_ephemeral=False)
    assert text[4:] not in str(info.value)


@pytest.mark.parametrize("key", [None, ""])
def test_missing_key_names_the_environment_variables(key: str | None) -> None:
    with pytest.raises(ConfigurationError, match=r"INFERWATCH_PII_KEY.*INFERWATCH_PII_KEY_FILE"):
        load_pii_key(key=key, key_file=None, key_id="1", allow_ephemeral=False)


def test_ephemeral_key_warns_and_is_random() -> None:
    with pytest.warns(PiiEphemeralKeyWarning, match="restarts and replicas"):
        a = load_pii_key(key=None, key_file=None, key_id="1", allow_ephemeral=True)
    with pytest.warns(PiiEphemeralKeyWarning):
        b = load_pii_key(key=None, key_file=None, key_id="1", allow_ephemeral=True)
    assert len(a.secret) == 32
    assert a.secret != b.secret
    assert issubclass(PiiEphemeralKeyWarning, RuntimeWarning)


def test_configured_key_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_pii_key(key=HEX_KEY, key_file=None, key_id="1", allow_ephemeral=True)


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_key_file_has_its_newline_stripped(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "key"
    path.write_bytes((HEX_KEY + ending).encode())
    key = load_pii_key(key=None, key_file=str(path), key_id="1", allow_ephemeral=False)
    assert key.secret == SECRET


def test_raw_binary_key_file(tmp_path: Path) -> None:
    secret = b"\xff\xfe" + bytes(40)
    path = tmp_path / "key"
    path.write_bytes(secret)
    key = load_pii_key(key=None, key_file=str(path), key_id="1", allow_ephemeral=False)
    assert key.secret == secret


def test_explicit_key_wins_over_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("y" * 40)
    key = load_pii_key(key=HEX_KEY, key_file=str(path), key_id="1", allow_ephemeral=False)
    assert key.secret == SECRET


def test_unreadable_or_empty_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read PII key file"):
        load_pii_key(key=None, key_file=str(tmp_path / "absent"), key_id="1", allow_ephemeral=True)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigurationError, match="is empty"):
        load_pii_key(key=None, key_file=str(tmp_path / "empty"), key_id="1", allow_ephemeral=False)
    (tmp_path / "short").write_text("short\n")
    with pytest.raises(ConfigurationError, match="at least 32"):
        load_pii_key(key=None, key_file=str(tmp_path / "short"), key_id="1", allow_ephemeral=False)


@pytest.mark.parametrize("key_id", ["", "a b", "x" * 33, "k:1", "é"])
def test_bad_key_id(key_id: str) -> None:
    with pytest.raises(ConfigurationError, match="key id"):
        load_pii_key(key=HEX_KEY, key_file=None, key_id=key_id, allow_ephemeral=False)


def test_key_never_shows_its_secret() -> None:
    key = make_key()
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert "hidden" in text
        for enc in key_encodings(SECRET):
            assert enc not in text
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(key)


# -- pseudonyms --------------------------------------------------------------------


def test_pseudonym_is_the_truncated_hmac() -> None:
    p = Pseudonymizer(make_key("7"))
    mac = hmac.new(SECRET, b"inferwatch-pseudonym-v1\x00alice", hashlib.sha256).digest()
    expected = "k7:" + base64.urlsafe_b64encode(mac[:12]).decode()
    assert p.pseudonym("alice") == expected
    assert len(expected) == 3 + 16


def test_hmac_helper_matches_stdlib_for_long_keys() -> None:
    key = b"z" * 100
    assert HmacSha256(key, b"p").mac(b"d") == hmac.new(key, b"pd", hashlib.sha256).digest()


def test_pseudonyms_are_stable_and_keyed() -> None:
    a1 = Pseudonymizer(make_key("1"))
    a2 = Pseudonymizer(make_key("1"))
    other_secret = Pseudonymizer(make_key("1", bytes(32)))
    other_id = Pseudonymizer(make_key("2"))
    assert a1.pseudonym(CANARY_ID) == a2.pseudonym(CANARY_ID)
    assert a1.pseudonym(CANARY_ID) != other_secret.pseudonym(CANARY_ID)
    assert other_id.pseudonym(CANARY_ID).startswith("k2:")
    assert a1.pseudonym(CANARY_ID) != a1.pseudonym(CANARY_ID + "x")
    assert a1.pseudonym(CANARY_ID) != hashlib.sha256(CANARY_ID.encode()).hexdigest()


def test_identifier_text_decides_equality() -> None:
    p = Pseudonymizer(make_key())
    same = {p.pseudonym(v) for v in (42, 42.0, "42", b"42", np.int64(42), np.float32(42))}
    assert len(same) == 1
    assert p.pseudonym(True) != p.pseudonym(1)
    assert p.pseudonym(b"\xff") != p.pseudonym("\xff")
    assert p.pseudonym(0.5) == p.pseudonym("0.5")


@given(st.one_of(st.text(), st.integers(), st.floats(), st.binary(), st.none(), st.booleans()))
def test_pseudonym_never_fails_and_never_shows_the_key(value: object) -> None:
    out = Pseudonymizer(make_key()).pseudonym(value)
    assert out.startswith("k1:")
    for enc in key_encodings(SECRET):
        assert enc not in out


@pytest.mark.parametrize("mac_bytes", [7, 33])
def test_mac_bytes_bounds(mac_bytes: int) -> None:
    with pytest.raises(ConfigurationError, match="mac_bytes"):
        Pseudonymizer(make_key(), mac_bytes=mac_bytes)


def test_mac_bytes_sets_length() -> None:
    assert len(Pseudonymizer(make_key(), mac_bytes=32).pseudonym("a")) == 3 + 43


def test_fields_must_be_a_list() -> None:
    with pytest.raises(ConfigurationError, match="list of names"):
        Pseudonymizer(make_key(), fields="user_id")


def test_key_must_be_a_pii_key() -> None:
    with pytest.raises(ConfigurationError, match="load_pii_key"):
        Pseudonymizer(SECRET)  # type: ignore[arg-type]


# -- mappings -----------------------------------------------------------------------


def test_apply_pseudonymises_drops_and_recurses() -> None:
    p = Pseudonymizer(make_key(), fields=["User_Id", "email"], drop_fields=["SSN"])
    src = {
        "user_id": CANARY_ID,
        "ssn": "123-45-6789",
        "age": 31,
        "profile": {"EMAIL": CANARY_EMAIL, "Ssn": "x", "city": "Oslo"},
        "history": [{"user_id": CANARY_ID}, "plain"],
        "email": {"home": CANARY_EMAIL, "work": None, "ssn": "y"},
        "user_ID": [CANARY_ID, np.array([1, 2])],
    }
    out = p.apply(src)
    assert out["user_id"] == p.pseudonym(CANARY_ID)
    assert "ssn" not in out
    assert out["age"] == 31
    assert out["profile"] == {"EMAIL": p.pseudonym(CANARY_EMAIL), "city": "Oslo"}
    assert out["history"] == [{"user_id": p.pseudonym(CANARY_ID)}, "plain"]
    assert out["email"] == {"home": p.pseudonym(CANARY_EMAIL), "work": None}
    assert out["user_ID"] == [p.pseudonym(CANARY_ID), [p.pseudonym(1), p.pseudonym(2)]]
    assert src["user_id"] == CANARY_ID  # the input is not changed
    text = repr(out)
    assert CANARY_ID not in text and CANARY_EMAIL not in text and "123-45" not in text


def test_apply_leaves_free_text_alone_without_detectors() -> None:
    p = Pseudonymizer(make_key())
    assert p.apply({"note": CANARY_EMAIL}) == {"note": CANARY_EMAIL}


def test_apply_scrubs_free_text_with_detectors() -> None:
    p = Pseudonymizer(make_key(), detect_emails=True, detect_phones=True)
    out = p.apply(
        {
            "note": f"mail {CANARY_EMAIL} or call +44 20 7946 0958",
            "deep": [[f"<{CANARY_EMAIL}>"]],
            3: "non-str key",
        }
    )
    assert CANARY_EMAIL not in repr(out)
    assert "7946" not in out["note"]
    assert out["note"] == (
        f"mail {p.pseudonym(CANARY_EMAIL)} or call {p.pseudonym('+442079460958')}"
    )
    assert out["3"] == "non-str key"


def test_apply_survives_deep_nesting() -> None:
    p = Pseudonymizer(make_key(), fields=["id"])
    deep: dict[str, object] = {"id": CANARY_ID}
    for _ in range(100):
        deep = {"x": deep}
    assert CANARY_ID not in repr(p.apply(deep))


# -- free text ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "+14155550100",
        "(415) 555-0100",
        "415-555-0100",
        "06 12 34 56 78",
        "+33 (0)1 23 45 67 89",
    ],
)
def test_phone_numbers_are_found(phone: str) -> None:
    assert scrub_text(f"call {phone} now") == "call <phone> now"


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15",
        "10.0.0.1",
        "1700000000123",
        "pi is 3.14159265",
        "v1.2.3",
        "port 8080",
        "12:30:45",
        "took 12.5 ms",
        "id 550e8400-e29b-41d4-a716-446655440000",
    ],
)
def test_numbers_that_are_not_phones_are_kept(text: str) -> None:
    assert scrub_text(text) == text


def test_emails_are_found_case_insensitively() -> None:
    p = Pseudonymizer(make_key(), detect_emails=True)
    assert p.scrub_text("Canary.User@Example.ORG") == p.pseudonym(CANARY_EMAIL)
    assert scrub_text(f"to: {CANARY_EMAIL}.") == "to: <email>."


def test_detectors_are_independent() -> None:
    p = Pseudonymizer(make_key(), detect_emails=True)
    assert "+44 20 7946 0958" in p.scrub_text("+44 20 7946 0958")
    p = Pseudonymizer(make_key(), detect_phones=True)
    assert CANARY_EMAIL in p.scrub_text(CANARY_EMAIL)


def test_message_redaction_always_scrubs_and_names_fields() -> None:
    p = Pseudonymizer(make_key(), fields=["user_id"], drop_fields=["password"])
    message = (
        f"user_id={CANARY_ID} password: 'hunter2' contact {CANARY_EMAIL} "
        "tel +1 415 555 0100 " + "x" * 500
    )
    out = p.redact_message(message)
    assert len(out) <= 256
    for secret in (CANARY_ID, CANARY_EMAIL, "hunter2", "555 0100"):
        assert secret not in out
    assert f"user_id={p.pseudonym(CANARY_ID)}" in out
    assert "password: '<dropped>'" in out
    assert p.pseudonym(CANARY_EMAIL) in out
    assert redact_message(message, p) == out


def test_keyless_redaction() -> None:
    out = redact_message(f"bad {CANARY_EMAIL} " + "y" * 1000)
    assert CANARY_EMAIL not in out
    assert len(out) == 256 and out.endswith("…")


# -- feature hashes ----------------------------------------------------------------


def test_feature_hash_ignores_dict_order_and_number_types() -> None:
    p = Pseudonymizer(make_key())
    a = p.feature_hash({"age": 31, "score": 0.5, "city": "Oslo", "v": [1, 2]})
    b = p.feature_hash(
        {"v": np.array([1.0, 2.0]), "city": "Oslo", "score": np.float64(0.5), "age": np.int32(31)}
    )
    assert a == b
    assert a.startswith("k1:")
    assert a != p.feature_hash({"age": 32, "score": 0.5, "city": "Oslo", "v": [1, 2]})


def test_feature_hash_of_sequences_and_arrays() -> None:
    p = Pseudonymizer(make_key())
    assert p.feature_hash([1, 2.0, 3]) == p.feature_hash(np.array([1, 2, 3], dtype=np.float32))
    assert p.feature_hash([[1, 2], [3, 4]]) == p.feature_hash(np.arange(1, 5).reshape(2, 2))
    assert p.feature_hash([1, 2, 3, 4]) != p.feature_hash([[1, 2], [3, 4]])
    assert p.feature_hash([1, 2]) != p.feature_hash([2, 1])
    assert p.feature_hash([-0.0, float("nan")]) == p.feature_hash(np.array([0.0, -np.nan]))
    assert p.feature_hash(["a", 1]) == p.feature_hash(("a", 1))
    assert p.feature_hash({"a": 1}) != p.feature_hash([1])
    assert p.feature_hash(2**80) != p.feature_hash(2**80 + 1)
    assert p.feature_hash(np.array(["a", "b"])) == p.feature_hash(np.array(["a", "b"]))


def test_feature_hash_is_keyed_and_separate_from_pseudonyms() -> None:
    p = Pseudonymizer(make_key())
    q = Pseudonymizer(make_key("1", bytes(32)))
    assert p.feature_hash("x") != q.feature_hash("x")
    assert p.feature_hash("x") != p.pseudonym("x")


@given(st.dictionaries(st.text(max_size=5), st.floats(allow_nan=True), max_size=8))
def test_feature_hash_order_independent_property(d: dict[str, float]) -> None:
    p = Pseudonymizer(make_key())
    assert p.feature_hash(d) == p.feature_hash(dict(reversed(list(d.items()))))
