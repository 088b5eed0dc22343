"""End-to-end encrypted channels (``private-encrypted-*``): key derivation and NaCl secretbox.

Invariants:
- the per-channel secret is ``sha256(channel_name_utf8 + master_key)`` with a 32-byte master key
  (what pusher-js, the Pusher server libraries and soketi all do);
- an encrypted event's ``data`` is the JSON string ``{"ciphertext": b64, "nonce": b64}`` (standard
  base64, 24-byte nonce), the plaintext being the UTF-8 of the event data string;
- servers (the hub) never call :func:`decrypt_payload`: they relay ciphertext unopened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

import nacl.exceptions
import nacl.secret
import nacl.utils

from authviz.errors import AuthvizError

__all__ = [
    "DecryptionError",
    "EncryptionError",
    "EncryptionKeyError",
    "MASTER_KEY_BYTES",
    "decode_master_key",
    "decrypt_payload",
    "encrypt_payload",
    "shared_secret",
]

MASTER_KEY_BYTES = 32
_NONCE_BYTES = nacl.secret.SecretBox.NONCE_SIZE  # 24
_KEY_BYTES = nacl.secret.SecretBox.KEY_SIZE  # 32


class EncryptionError(AuthvizError, ValueError):
    """Data could not be encrypted (see the message)."""


class EncryptionKeyError(EncryptionError):
    """The encryption master key (or a channel secret or nonce) is missing or malformed."""


class DecryptionError(AuthvizError):
    """An encrypted payload could not be opened (malformed, tampered with, or the wrong key)."""


def decode_master_key(text: str) -> bytes:
    """Decode a base64 master key (``openssl rand -base64 32``) into its 32 bytes."""
    if not isinstance(text, str):
        raise EncryptionKeyError(f"the encryption master key must be a base64 string, not {type(text).__name__}")
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionKeyError(
            "the encryption master key is not valid base64; generate one with `openssl rand -base64 32`"
        ) from None
    _check_master_key(key)
    return key


def _check_master_key(master_key: object) -> bytes:
    if not isinstance(master_key, (bytes, bytearray)):
        raise EncryptionKeyError(
            "the encryption master key must be bytes (use decode_master_key() for base64 text), "
            f"not {type(master_key).__name__}"
        )
    if len(master_key) != MASTER_KEY_BYTES:
        raise EncryptionKeyError(
            f"the encryption master key is {len(master_key)} bytes; it must be exactly "
            f"{MASTER_KEY_BYTES} (generate one with `openssl rand -base64 32`)"
        )
    return bytes(master_key)


def shared_secret(channel: str, master_key: bytes) -> bytes:
    """The 32-byte secret of one encrypted channel: ``sha256(channel_utf8 + master_key)``."""
    key = _check_master_key(master_key)
    return hashlib.sha256(channel.encode("utf-8") + key).digest()


def _check_secret(secret: object) -> bytes:
    if not isinstance(secret, (bytes, bytearray)) or len(secret) != _KEY_BYTES:
        raise EncryptionKeyError(
            f"a channel secret must be {_KEY_BYTES} bytes (from shared_secret() or the base64 "
            "shared_secret of an auth response, decoded)"
        )
    return bytes(secret)


def encrypt_payload(data: str | bytes, secret: bytes, *, nonce: bytes | None = None) -> str:
    """Encrypt event data for an encrypted channel; return the JSON ``{"ciphertext","nonce"}``.

    *nonce* is random unless given (only tests should give one: a nonce must never be reused
    with the same secret).
    """
    box = nacl.secret.SecretBox(_check_secret(secret))
    try:
        plaintext = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError:
        raise EncryptionError("the data to encrypt is not valid text (it contains an unpaired surrogate)") from None
    if nonce is None:
        nonce = nacl.utils.random(_NONCE_BYTES)
    elif len(nonce) != _NONCE_BYTES:
        raise EncryptionKeyError(f"a nonce must be {_NONCE_BYTES} bytes, not {len(nonce)}")
    sealed = box.encrypt(plaintext, nonce)
    return json.dumps(
        {
            "ciphertext": base64.b64encode(sealed.ciphertext).decode("ascii"),
            "nonce": base64.b64encode(sealed.nonce).decode("ascii"),
        },
        separators=(",", ":"),
    )


def _b64_field(doc: Mapping[str, object], name: str) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise DecryptionError(f"the encrypted payload has no {name} string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"the encrypted payload's {name} is not valid base64") from None


def decrypt_payload(payload: str | bytes | Mapping[str, object], secret: bytes) -> str:
    """Open an encrypted event's data (JSON string or parsed mapping); return the plaintext text."""
    box = nacl.secret.SecretBox(_check_secret(secret))
    if isinstance(payload, (str, bytes, bytearray)):
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError):
            raise DecryptionError("the encrypted payload is not JSON") from None
    else:
        doc = payload
    if not isinstance(doc, Mapping):
        raise DecryptionError('the encrypted payload must be a JSON object {"ciphertext", "nonce"}')
    ciphertext = _b64_field(doc, "ciphertext")
    nonce = _b64_field(doc, "nonce")
    if len(nonce) != _NONCE_BYTES:
        raise DecryptionError(f"the encrypted payload's nonce is {len(nonce)} bytes, not {_NONCE_BYTES}")
    try:
        plaintext = box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise DecryptionError(
            "the encrypted payload failed authentication: it was altered, or this is the wrong "
            "channel secret (check the channel name and the master key)"
        ) from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("the decrypted payload is not UTF-8 text") from None
