"""An offline stand-in for an Auth0 tenant's token signing: one RSA key, its JWKS, minted tokens.

Used by ``authviz serve --dev-identity`` (which serves :meth:`DevIdentity.jwks` at
``/.well-known/jwks.json`` with issuer = the server's own URL) and by ``authviz token``. The key
lives in a PEM file (mode 0600) under the state directory (``.authviz/dev-identity.pem`` by
default) so the command and the server agree; the server also records the issuer and audience it
uses in ``.authviz/dev-identity.json``. Tokens minted here are verified by
:class:`authviz.bridge.identity.TokenVerifier`, exactly like Auth0's.

Never use this outside a demo or a test: whoever can read the PEM file can be anyone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authviz.statefiles import FILE_MODE, private_dir, private_file

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_STATE_DIR",
    "DevIdentity",
    "dev_user_claims",
    "mint_token",
    "read_dev_settings",
    "write_dev_settings",
]

DEFAULT_STATE_DIR = Path(".authviz")
KEY_FILE = "dev-identity.pem"
SETTINGS_FILE = "dev-identity.json"
DEFAULT_AUDIENCE = "https://authviz.local/api"
DEFAULT_TTL = 8 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def dev_user_claims(user: str) -> dict[str, Any]:
    """Profile claims of a demo user: ``alice`` -> sub ``dev|alice``, name ``Alice``, an email."""
    user = user.strip()
    if not user:
        raise ValueError("the user name is empty")
    sub = user if "|" in user else f"dev|{user}"
    local = user.split("|")[-1]
    return {
        "sub": sub,
        "name": local[:1].upper() + local[1:],
        "nickname": local,
        "email": f"{local}@example.com",
    }


@dataclass(frozen=True)
class DevIdentity:
    """An RSA signing key with its key id (RFC 7638 thumbprint)."""

    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> DevIdentity:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load(cls, path: str | Path) -> DevIdentity:
        data = Path(path).read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: str | Path) -> DevIdentity:
        """Load the key at ``path``, or generate and save one (mode 0600) when it is missing."""
        path = Path(path)
        if os.path.lexists(path):
            private_file(path)  # refuses a symlink; tightens a looser mode, with a notice
            return cls.load(path)
        identity = cls.generate()
        private_dir(path.parent)
        pem = identity.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process just wrote
        except FileExistsError:
            tmp.unlink()
            return cls.load(path)
        tmp.unlink()
        return identity

    def public_jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        n = _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
        e = _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
        canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
        kid = _b64(hashlib.sha256(canonical.encode()).digest())
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}

    @property
    def kid(self) -> str:
        return self.public_jwk()["kid"]

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set served at ``/.well-known/jwks.json``."""
        return {"keys": [self.public_jwk()]}

    def mint(
        self,
        user: str,
        *,
        issuer: str,
        audience: str = DEFAULT_AUDIENCE,
        ttl: int = DEFAULT_TTL,
        permissions: Iterable[str] = (),
        extra: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        """An RS256 access token for demo ``user`` (see :func:`dev_user_claims`) granting
        ``permissions`` in the ``permissions`` claim, as Auth0 RBAC does (none by default)."""
        issued = int(time.time() if now is None else now)
        claims = dev_user_claims(user)
        claims.update(
            {
                "iss": issuer,
                "aud": audience,
                "iat": issued,
                "exp": issued + int(ttl),
                "permissions": sorted(set(permissions)),
            }
        )
        if extra:
            claims.update(extra)
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})


def write_dev_settings(state_dir: str | Path, *, issuer: str, audience: str) -> Path:
    """Record where the running dev identity lives (read by ``authviz token``)."""
    path = private_dir(state_dir) / SETTINGS_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"issuer": issuer, "audience": audience}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_dev_settings(state_dir: str | Path) -> dict[str, str] | None:
    """The settings the last ``authviz serve --dev-identity`` wrote, or ``None``."""
    path = Path(state_dir) / SETTINGS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


#: Longest lifetime :func:`mint_token` accepts (a dev token is for a demo or a workshop).
MAX_TOKEN_TTL = 30 * 24 * 3600


def mint_token(
    user: str,
    *,
    state_dir: str | Path,
    key_file: str | Path | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    ttl: int = 8 * 3600,
    permissions: Iterable[str] = (),
) -> str:
    """A dev-identity token signed with the local key, for the issuer and audience the server
    recorded in ``state_dir`` (unless given), granting ``permissions`` (none by default).

    Raises :class:`~authviz.errors.ConfigError` when there is no recorded issuer or no usable key,
    :class:`~authviz.errors.UsageError` for a ``ttl`` outside 1..:data:`MAX_TOKEN_TTL` seconds or a
    bad user id.
    """
    from authviz.errors import ConfigError, UsageError

    if not 1 <= ttl <= MAX_TOKEN_TTL:
        raise UsageError(f"ttl must be from 1 to {MAX_TOKEN_TTL} seconds (30 days), not {ttl}.")
    settings = read_dev_settings(state_dir) or {}
    issuer = issuer or settings.get("issuer")
    if not issuer:
        raise ConfigError(
            f"no dev-identity issuer recorded in {state_dir}; start a server with a dev identity "
            "(authviz serve --dev-identity) first, or give the issuer."
        )
    key_path = Path(key_file) if key_file else Path(state_dir) / KEY_FILE
    if not key_path.exists():
        raise ConfigError(
            f"{key_path} does not exist; start a server with a dev identity (authviz serve --dev-identity) first."
        )
    try:
        identity = DevIdentity.load(key_path)
    except ValueError as error:
        raise ConfigError(f"{key_path} is not a usable RSA key ({error}).") from None
    try:
        return identity.mint(
            user,
            issuer=issuer,
            audience=audience or settings.get("audience") or DEFAULT_AUDIENCE,
            ttl=ttl,
            permissions=permissions,
        )
    except ValueError as error:
        raise UsageError(f"{error}.") from None
