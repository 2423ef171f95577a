"""Signing keys and HMAC-SHA256 seals on everything docket decodes after storage.

With a signing key, every encoded payload, result, exception and strike rule
is stored sealed: ``MAGIC``, an HMAC-SHA256 tag, then the encoded body.  The
tag covers what the bytes are for (``purpose``: a call, a result, a strike)
and what they belong to (``subject``: the task's name, the execution's key,
the rule's id), so a sealed entry cannot be moved to another place and read
as something else.  ``Signer.open`` checks the tag against every key and
returns the body only if one of them made it; anything else raises
``BadSignature`` before a byte of the body is decoded.

Keys rotate as a list: the first signs, every one of them verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence

from docket.errors import BadSignature

__all__ = ["ENV_VAR", "MAGIC", "BadSignature", "Signer", "is_sealed", "signing_keys"]

ENV_VAR = "DOCKET_SIGNING_KEY"
"""The environment variable read when ``Docket(signing_key=None)``: one key, or several
separated by commas (the first signs)."""

MAGIC = b"\x00DKS1"
"""How a sealed entry starts.  No pickle (``\\x80``) and no JSON text starts with NUL."""

TAG_SIZE = hashlib.sha256().digest_size

SigningKey = str | bytes
"""One key: bytes, or text used as its UTF-8 bytes."""


def _key_bytes(key: object, index: int) -> bytes:
    # The key itself never goes into the message: only its position and type.
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes):
        raise TypeError(f"signing_key[{index}] must be str or bytes, got {type(key).__name__}")
    if not key:
        raise ValueError(f"signing_key[{index}] must not be empty")
    return key


def signing_keys(setting: SigningKey | Sequence[SigningKey] | None) -> tuple[bytes, ...]:
    """The keys a ``signing_key`` setting names, first (signing) key first.

    ``None`` reads ``DOCKET_SIGNING_KEY`` (keys separated by commas; unset or
    empty means no signing).  A single str or bytes is one key; a list or
    tuple is several.  Empty keys and other types are refused, naming the
    position of the key but never its value.
    """
    if setting is None:
        text = os.environ.get(ENV_VAR, "")
        if not text.strip():
            return ()
        parts = [part.strip() for part in text.split(",")]
        if not all(parts):
            raise ValueError(f"{ENV_VAR} holds an empty key (keys are separated by commas)")
        return tuple(part.encode("utf-8") for part in parts)
    if isinstance(setting, (str, bytes)):
        return (_key_bytes(setting, 0),)
    if not isinstance(setting, (list, tuple)):
        raise TypeError(
            f"signing_key must be str, bytes, a list of them or None, got {type(setting).__name__}"
        )
    if not setting:
        raise ValueError("signing_key must name at least one key, got an empty list")
    return tuple(_key_bytes(key, index) for index, key in enumerate(setting))


def is_sealed(data: bytes) -> bool:
    """Whether ``data`` starts like a sealed entry (it may still be forged)."""
    return data.startswith(MAGIC)


class Signer:
    """Seals and opens entries with HMAC-SHA256 under a list of keys (the first signs)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a Signer needs at least one key")
        self._keys = tuple(keys)

    @property
    def key_count(self) -> int:
        """How many keys verify (the first of them also signs)."""
        return len(self._keys)

    @staticmethod
    def _tag(key: bytes, purpose: str, subject: str, body: bytes) -> bytes:
        # The context's length first, so no (purpose, subject, body) split reads as
        # another.  One-shot hmac.digest: the incremental HMAC object costs more
        # than the hash itself for payloads this small.
        context = f"{purpose}\x00{subject}".encode()
        return hmac.digest(
            key, b"".join((len(context).to_bytes(4, "big"), context, body)), "sha256"
        )

    def seal(self, purpose: str, subject: str, body: bytes) -> bytes:
        """``body`` sealed with the first key, for ``purpose`` and ``subject``."""
        return MAGIC + self._tag(self._keys[0], purpose, subject, body) + body

    def open(self, purpose: str, subject: str, data: bytes) -> bytes:
        """The body of a sealed entry, if one of the keys sealed it for this purpose and subject.

        Raises ``BadSignature`` for anything else: unsigned data, a tag no
        key made, or an entry sealed for another purpose or subject.
        """
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + TAG_SIZE:
            raise BadSignature(f"bad signature: the {purpose} for {subject!r} is not signed")
        tag = data[len(MAGIC) : len(MAGIC) + TAG_SIZE]
        body = data[len(MAGIC) + TAG_SIZE :]
        for key in self._keys:
            if hmac.compare_digest(tag, self._tag(key, purpose, subject, body)):
                return body
        raise BadSignature(
            f"bad signature: the {purpose} for {subject!r} was not signed by any of "
            f"this docket's {len(self._keys)} signing key(s)"
        )

    def __repr__(self) -> str:
        return f"Signer(<{len(self._keys)} key(s) hidden>)"
