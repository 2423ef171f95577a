"""The pieces of signing and the JSON codec on their own: keys, seals, the codec's checks.

Engine-level behaviour (forged entries on every target) is in
conformance/test_signing.py and conformance/test_json_codec.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from docket import Docket
from docket.engines.redis.codec import loggable_fields
from docket.errors import BadSignature
from docket.json_codec import non_json
from docket.serialization import CALL, RESULT, Codec
from docket.signing import MAGIC, Signer, signing_keys

SECRET = "secret-marker-91be"


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKET_SIGNING_KEY", raising=False)


def test_keys_are_bytes_first_one_first() -> None:
    assert signing_keys("k") == (b"k",)
    assert signing_keys(b"\x00\xff") == (b"\x00\xff",)
    assert signing_keys(["new", b"old"]) == (b"new", b"old")
    assert signing_keys(None) == ()


def test_the_environment_holds_keys_separated_by_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKET_SIGNING_KEY", " new , old ")
    assert signing_keys(None) == (b"new", b"old")
    assert Codec().signed
    monkeypatch.setenv("DOCKET_SIGNING_KEY", "   ")
    assert signing_keys(None) == ()
    monkeypatch.setenv("DOCKET_SIGNING_KEY", f"{SECRET},")
    with pytest.raises(ValueError, match="DOCKET_SIGNING_KEY holds an empty key") as raised:
        signing_keys(None)
    assert SECRET not in str(raised.value)


def test_an_explicit_key_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKET_SIGNING_KEY", "from-env")
    codec = Codec(signing_key="given")
    sealed = codec.encode_value(1, "k")
    with pytest.raises(BadSignature):
        Codec().decode_value(sealed, "k")
    assert not Codec(read_environment=False).signed


@pytest.mark.parametrize(
    ("setting", "error", "message"),
    [
        ("", ValueError, r"signing_key\[0\] must not be empty"),
        ([SECRET, ""], ValueError, r"signing_key\[1\] must not be empty"),
        ([], ValueError, "at least one key"),
        (42, TypeError, "got int"),
        ([SECRET, 42], TypeError, r"signing_key\[1\] must be str or bytes, got int"),
        ({SECRET}, TypeError, "got set"),
    ],
)
def test_bad_keys_are_refused_without_showing_them(
    setting: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as raised:
        Docket(url="memory://", signing_key=setting)
    assert SECRET not in str(raised.value)


def test_no_key_shows_in_a_repr() -> None:
    codec = Codec(signing_key=[SECRET, "old"])
    assert SECRET not in repr(codec) and "2 hidden" in repr(codec)
    assert SECRET not in repr(Signer([SECRET.encode()]))
    docket = Docket(url="memory://", signing_key=SECRET)
    assert SECRET not in repr(docket) and SECRET not in repr(vars(docket))


def test_a_seal_holds_only_for_its_key_purpose_and_subject() -> None:
    signer = Signer([b"k"])
    sealed = signer.seal(CALL, "task", b"body")
    assert sealed.startswith(MAGIC) and sealed.endswith(b"body")
    assert signer.open(CALL, "task", sealed) == b"body"
    for purpose, subject, data in [
        (CALL, "other-task", sealed),
        (RESULT, "task", sealed),
        (CALL, "task", sealed[:-1] + b"B"),
        (CALL, "task", sealed[:10] + bytes([sealed[10] ^ 1]) + sealed[11:]),
        (CALL, "task", b"body"),
        (CALL, "task", MAGIC),
    ]:
        with pytest.raises(BadSignature, match="bad signature"):
            signer.open(purpose, subject, data)
    with pytest.raises(BadSignature):
        Signer([b"other"]).open(CALL, "task", sealed)
    # Rotation: a list whose later key made the seal still opens it.
    assert Signer([b"new", b"k"]).open(CALL, "task", sealed) == b"body"


def test_a_context_split_cannot_be_moved() -> None:
    """("ab", "c") and ("a", "bc") are different places."""
    signer = Signer([b"k"])
    with pytest.raises(BadSignature):
        signer.open("ab", "c", signer.seal("a", "bc", b""))


def test_codec_choice_is_checked() -> None:
    with pytest.raises(ValueError, match=r"codec must be one of \['pickle', 'json'\], got 'xml'"):
        Docket(url="memory://", codec="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": [1, 2.5, "x", None, True, {"b": []}]}, None),
        ((1, 2), "tuple"),
        ({1: "x"}, "a dict key of type int"),
        ([b"bytes"], "bytes"),
        (float("inf"), "float inf"),
        ({"a": {1, 2}}, "set"),
    ],
)
def test_what_is_json(value: Any, problem: str | None) -> None:
    assert non_json(value) == problem


def test_an_int_enum_is_not_json() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 1

    assert non_json(Level.HIGH) == "Level"


def test_malformed_claim_fields_show_payloads_by_size_only() -> None:
    fields = {b"key": b"k", b"payload": SECRET.encode() * 2, b"result": b"xyz"}
    shown = loggable_fields(fields)
    assert shown == {"key": "k", "payload": f"<{2 * len(SECRET)} bytes>", "result": "<3 bytes>"}
