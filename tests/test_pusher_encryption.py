"""Encrypted channels: key derivation and secretbox payloads, checked against the `pusher` library."""

from __future__ import annotations

import base64
import hashlib
import json

import nacl.secret
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pusher import crypto as pusher_crypto

from authviz.errors import AuthvizError
from authviz.pusher import (
    DecryptionError,
    EncryptionError,
    EncryptionKeyError,
    decode_master_key,
    decrypt_payload,
    encrypt_payload,
    shared_secret,
)

MASTER = bytes(range(32))
MASTER_B64 = base64.b64encode(MASTER).decode()
CHANNEL = "private-encrypted-foobar"


def test_shared_secret_is_sha256_of_channel_and_master_key() -> None:
    assert shared_secret(CHANNEL, MASTER) == hashlib.sha256(CHANNEL.encode() + MASTER).digest()
    assert shared_secret(CHANNEL, MASTER) == pusher_crypto.generate_shared_secret(CHANNEL.encode(), MASTER)
    assert shared_secret(CHANNEL, MASTER) != shared_secret(CHANNEL + "x", MASTER)
    assert len(shared_secret(CHANNEL, MASTER)) == 32


def test_master_key_must_be_32_bytes() -> None:
    for bad in (b"", b"k" * 31, b"k" * 33):
        with pytest.raises(EncryptionKeyError, match=f"is {len(bad)} bytes; it must be exactly 32"):
            shared_secret(CHANNEL, bad)
    with pytest.raises(EncryptionKeyError, match="decode_master_key"):
        shared_secret(CHANNEL, MASTER_B64)  # type: ignore[arg-type]
    assert issubclass(EncryptionKeyError, AuthvizError)


def test_decode_master_key() -> None:
    assert decode_master_key(MASTER_B64) == MASTER
    assert decode_master_key(f"  {MASTER_B64}\n") == MASTER
    with pytest.raises(EncryptionKeyError, match="not valid base64"):
        decode_master_key("not base64!!")
    with pytest.raises(EncryptionKeyError, match="is 16 bytes"):
        decode_master_key(base64.b64encode(b"k" * 16).decode())
    with pytest.raises(EncryptionKeyError, match="base64 string"):
        decode_master_key(MASTER)  # type: ignore[arg-type]


def test_encrypt_matches_pusher_library_byte_for_byte() -> None:
    nonce = bytes(range(24))
    data = '{"message":"héllo"}'
    ours = json.loads(encrypt_payload(data, shared_secret(CHANNEL, MASTER), nonce=nonce))
    theirs = pusher_crypto.encrypt(CHANNEL, data, MASTER, nonce=nonce)
    assert ours == theirs
    assert set(ours) == {"ciphertext", "nonce"}


def test_decrypt_what_the_pusher_library_encrypts() -> None:
    theirs = pusher_crypto.encrypt(CHANNEL, "plain 🙂", MASTER)
    secret = shared_secret(CHANNEL, MASTER)
    assert decrypt_payload(theirs, secret) == "plain 🙂"
    assert decrypt_payload(json.dumps(theirs), secret) == "plain 🙂"
    assert decrypt_payload(json.dumps(theirs).encode(), secret) == "plain 🙂"


def test_nonces_are_random() -> None:
    secret = shared_secret(CHANNEL, MASTER)
    nonces = {json.loads(encrypt_payload("x", secret))["nonce"] for _ in range(20)}
    assert len(nonces) == 20


def test_decrypt_errors_are_clear() -> None:
    secret = shared_secret(CHANNEL, MASTER)
    good = json.loads(encrypt_payload("hello", secret))
    wrong_secret = shared_secret("private-encrypted-other", MASTER)
    cases = [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ({"nonce": good["nonce"]}, "no ciphertext"),
        ({"ciphertext": good["ciphertext"]}, "no nonce"),
        ({**good, "nonce": "%%%"}, "nonce is not valid base64"),
        ({**good, "nonce": base64.b64encode(b"short").decode()}, "nonce is 5 bytes"),
        ({**good, "ciphertext": base64.b64encode(b"x" * 40).decode()}, "failed authentication"),
    ]
    for payload, message in cases:
        with pytest.raises(DecryptionError, match=message):
            decrypt_payload(payload, secret)
    with pytest.raises(DecryptionError, match="wrong channel secret"):
        decrypt_payload(good, wrong_secret)
    # Non-UTF-8 plaintext.
    box = nacl.secret.SecretBox(secret)
    sealed = box.encrypt(b"\xff\xfe")
    raw = {"ciphertext": base64.b64encode(sealed.ciphertext).decode(), "nonce": base64.b64encode(sealed.nonce).decode()}
    with pytest.raises(DecryptionError, match="not UTF-8"):
        decrypt_payload(raw, secret)
    with pytest.raises(EncryptionKeyError, match="32 bytes"):
        decrypt_payload(good, b"short")
    with pytest.raises(EncryptionKeyError, match="nonce must be 24"):
        encrypt_payload("x", secret, nonce=b"1")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=500), st.binary(min_size=32, max_size=32), st.integers(0, 10**6), st.integers(0, 7))
def test_property_round_trip_and_tamper(data: str, master: bytes, pos: int, bit: int) -> None:
    secret = shared_secret(CHANNEL, master)
    try:
        payload = encrypt_payload(data, secret)
    except EncryptionError as exc:
        assert "unpaired surrogate" in str(exc)  # lone surrogates are not text that can be sent
        return
    assert decrypt_payload(payload, secret) == data
    doc = json.loads(payload)
    raw = bytearray(base64.b64decode(doc["ciphertext"]))
    raw[pos % len(raw)] ^= 1 << bit
    with pytest.raises(DecryptionError):
        decrypt_payload({**doc, "ciphertext": base64.b64encode(bytes(raw)).decode()}, secret)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=100),
        st.none(),
        st.integers(),
        st.dictionaries(st.sampled_from(["ciphertext", "nonce", "x"]), st.one_of(st.text(max_size=40), st.integers())),
    )
)
def test_decrypt_never_crashes(payload: object) -> None:
    try:
        decrypt_payload(payload, shared_secret(CHANNEL, MASTER))  # type: ignore[arg-type]
    except DecryptionError as exc:
        assert str(exc)
