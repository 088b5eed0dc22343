"""Who is calling: Auth0 (or dev-identity) access tokens verified with PyJWT.

The only accepted token is a JWT signed with **RS256** by a key published in the issuer's JWKS
(``{issuer}/.well-known/jwks.json``), whose ``iss`` equals the configured issuer, whose ``aud``
contains the configured audience, which has not expired (``exp`` required) and which names a
subject (``sub``). Everything else raises :class:`InvalidToken`; the HTTP layer answers a bare 403
and never says why (the reason is only for logs and tests).

JWKS cache: keys are fetched once and reused for ``cache_ttl`` seconds; a token with an unknown
``kid`` triggers a refetch (key rotation), at most one such forced refetch per
``min_refresh_interval`` seconds (so a flood of forged kids cannot turn the server into a
JWKS-fetching amplifier). A failed fetch is remembered for ``failure_ttl`` seconds (no fetch per
request while the issuer is down), and never drops the keys fetched before it: tokens signed by
them keep verifying until the issuer answers again.

The dev identity (:mod:`authviz.bridge.devidentity`) is verified through exactly this class: its
JWKS is served by the bridge itself and fetched over HTTP like Auth0's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt

from authviz.errors import AuthvizError

__all__ = [
    "ALGORITHMS",
    "Identity",
    "InvalidToken",
    "JwksError",
    "TokenVerifier",
    "bearer_token",
    "jwks_url_for",
    "normalise_issuer",
    "permissions_of",
]

#: The only signature algorithm accepted. Never HS*, never ``none``.
ALGORITHMS = ("RS256",)

JwksFetcher = Callable[[str], Awaitable[Mapping[str, Any]]]


class InvalidToken(AuthvizError):
    """The token was refused; ``str()`` says why, for logs only (never sent to the client)."""


class JwksError(InvalidToken):
    """The issuer's JWKS could not be fetched or read."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller. Every field comes from verified claims, never from the request body."""

    user_id: str
    name: str | None = None
    picture: str | None = None
    email: str | None = None
    #: What the token grants: the ``permissions`` claim (Auth0 RBAC) and the ``scope`` claim's
    #: space-separated words, together.
    permissions: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def has_permission(self, permission: str) -> bool:
        """True when the verified token grants ``permission`` (exact, case-sensitive match)."""
        return bool(permission) and permission in self.permissions

    def user_info(self) -> dict[str, Any]:
        """Presence ``user_info``: name and picture when the token carries them."""
        info: dict[str, Any] = {}
        if self.name:
            info["name"] = self.name
        if self.picture:
            info["picture"] = self.picture
        return info


def permissions_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The permissions a token's verified claims grant: Auth0 RBAC's ``permissions`` (a list of
    strings) and OAuth's ``scope`` (one space-separated string). Anything else grants nothing."""
    granted: set[str] = set()
    listed = claims.get("permissions")
    if isinstance(listed, (list, tuple)):
        granted.update(p for p in listed if isinstance(p, str) and p)
    scope = claims.get("scope")
    if isinstance(scope, str):
        granted.update(scope.split())
    return frozenset(granted)


def normalise_issuer(issuer_or_domain: str) -> str:
    """``tenant.auth0.com`` or ``https://tenant.auth0.com`` -> ``https://tenant.auth0.com/``.

    Auth0 issuers end with ``/``; a bare domain means https.
    """
    value = issuer_or_domain.strip()
    if not value:
        raise ValueError("the issuer is empty")
    if "://" not in value:
        value = "https://" + value
    return value if value.endswith("/") else value + "/"


def jwks_url_for(issuer: str) -> str:
    """Where an issuer publishes its signing keys."""
    return issuer.rstrip("/") + "/.well-known/jwks.json"


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


async def _fetch_with_aiohttp(url: str, *, timeout: float = 5.0, max_bytes: int = 256_000) -> Mapping[str, Any]:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raise JwksError(f"JWKS at {url} answered HTTP {response.status}")
                body = await response.content.read(max_bytes + 1)
                if len(body) > max_bytes:
                    raise JwksError(f"JWKS at {url} is larger than {max_bytes} bytes")
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        raise JwksError(f"cannot fetch the JWKS at {url}: {error!r}") from error
    try:
        import orjson

        data = orjson.loads(body)
    except ValueError as error:
        raise JwksError(f"JWKS at {url} is not JSON") from error
    if not isinstance(data, Mapping):
        raise JwksError(f"JWKS at {url} is not a JSON object")
    return data


class TokenVerifier:
    """Verifies bearer tokens of one issuer and audience (see the module docstring).

    ``issuer`` may be set later (:meth:`set_issuer`) when it is only known once the server is
    listening (the dev identity on an ephemeral port); until then every token is refused.
    """

    def __init__(
        self,
        issuer: str | None,
        audience: str,
        *,
        jwks_url: str | None = None,
        fetch: JwksFetcher | None = None,
        cache_ttl: float = 600.0,
        min_refresh_interval: float = 30.0,
        failure_ttl: float = 30.0,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = normalise_issuer(issuer) if issuer else None
        self.audience = audience
        self._jwks_url = jwks_url
        self._fetch = fetch or _fetch_with_aiohttp
        self.cache_ttl = cache_ttl
        self.min_refresh_interval = min_refresh_interval
        self.failure_ttl = failure_ttl
        self._failed_at: float | None = None
        self._failure: JwksError | None = None
        self.leeway = leeway
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._forced_at: float | None = None
        self._lock = asyncio.Lock()
        #: How many times the JWKS was fetched or tried (observability and tests).
        self.fetch_count = 0

    def set_issuer(self, issuer: str) -> None:
        self.issuer = normalise_issuer(issuer)
        self._keys.clear()
        self._fetched_at = None
        self._failed_at = self._failure = None

    @property
    def jwks_url(self) -> str | None:
        if self._jwks_url:
            return self._jwks_url
        return jwks_url_for(self.issuer) if self.issuer else None

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = self._clock()
            if self._fetched_at is not None and not force and now - self._fetched_at < self.cache_ttl:
                return
            if self._failed_at is not None and now - self._failed_at < self.failure_ttl:
                # the issuer failed moments ago: no new fetch; the last good keys stay in use
                if self._keys:
                    return
                assert self._failure is not None
                raise self._failure
            if force:
                if self._forced_at is not None and now - self._forced_at < self.min_refresh_interval:
                    return
                self._forced_at = now
            url = self.jwks_url
            if url is None:
                raise JwksError("no issuer is configured")
            self.fetch_count += 1
            try:
                data = await self._fetch(url)
            except JwksError as error:
                # Remembered for failure_ttl (a down issuer is not asked once per request);
                # keys that were valid stay valid until the issuer answers again.
                self._failed_at, self._failure = now, error
                if self._keys:
                    return
                raise
            self._failed_at = self._failure = None
            keys: dict[str, jwt.PyJWK] = {}
            for jwk in data.get("keys") or ():
                if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str):
                    continue
                if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
                    continue
                try:
                    keys[jwk["kid"]] = jwt.PyJWK(dict(jwk), algorithm="RS256")
                except jwt.PyJWTError:
                    continue
            self._keys = keys
            self._fetched_at = now

    async def _key_for(self, kid: str) -> jwt.PyJWK:
        await self._refresh(force=False)
        key = self._keys.get(kid)
        if key is None:
            await self._refresh(force=True)
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(f"unknown key id {kid!r}")
        return key

    async def verify(self, token: str) -> Identity:
        """Return the verified identity of ``token`` or raise :class:`InvalidToken`."""
        if self.issuer is None:
            raise InvalidToken("no issuer is configured")
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16_384:
            raise InvalidToken("not a compact JWS")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(f"unreadable header: {error}") from error
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key id")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from error
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("the subject is empty")

        def text(name: str) -> str | None:
            value = claims.get(name)
            return value if isinstance(value, str) and value else None

        return Identity(
            user_id=sub,
            name=text("name") or text("nickname") or text("email"),
            picture=text("picture"),
            email=text("email"),
            permissions=permissions_of(claims),
            claims=claims,
        )
