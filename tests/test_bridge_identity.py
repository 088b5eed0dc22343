"""Token verification against a JWKS served over real HTTP on loopback (a local stand-in for an
Auth0 tenant's /.well-known/jwks.json), and every forged-token family the issue lists."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization

from authviz.bridge.devidentity import DevIdentity, dev_user_claims
from authviz.bridge.identity import InvalidToken, TokenVerifier, bearer_token, normalise_issuer

AUDIENCE = "https://api.example"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


class Tenant:
    """A faithful local fake of an Auth0 tenant's signing side: a JWKS endpoint with rotation."""

    def __init__(self) -> None:
        self.keys = [DevIdentity.generate()]
        self.hits = 0
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self.jwks)
        self.server = TestServer(app, host="127.0.0.1")

    async def jwks(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.json_response({"keys": [k.public_jwk() for k in self.keys]})

    @property
    def issuer(self) -> str:
        return str(self.server.make_url("/"))

    def token(self, user: str = "alice", key: DevIdentity | None = None, **kwargs) -> str:
        kwargs.setdefault("audience", AUDIENCE)
        return (key or self.keys[0]).mint(user, issuer=self.issuer, **kwargs)


@pytest.fixture
async def tenant():
    t = Tenant()
    await t.server.start_server()
    yield t
    await t.server.close()


async def test_a_valid_token_gives_the_identity_from_its_claims(tenant):
    verifier = TokenVerifier(tenant.issuer, AUDIENCE)
    identity = await verifier.verify(tenant.token("alice", extra={"picture": "https://p/a.png"}))
    assert identity.user_id == "dev|alice" and identity.name == "Alice"
    assert identity.user_info() == {"name": "Alice", "picture": "https://p/a.png"}
    # the keys are cached: a second token costs no fetch
    await verifier.verify(tenant.token("bob"))
    assert tenant.hits == 1


async def test_forged_tokens_are_refused(tenant):
    verifier = TokenVerifier(tenant.issuer, AUDIENCE)
    key = tenant.keys[0]
    kid = key.kid
    now = int(time.time())
    good_claims = {**dev_user_claims("mallory"), "iss": tenant.issuer, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, payload = (b64(json.dumps(x).encode()) for x in ({"alg": "HS256", "typ": "JWT", "kid": kid}, good_claims))
    hs256_with_public_key = f"{header}.{payload}." + b64(
        hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    )
    other = DevIdentity.generate()
    valid = tenant.token()
    forged = {
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": kid}, good_claims),
        "alg None": unsigned({"alg": "None", "kid": kid}, good_claims),
        "HS256 signed with the public key": hs256_with_public_key,
        "expired": tenant.token(now=now - 7200, ttl=600),
        "wrong audience": tenant.token(audience="https://other.example"),
        "wrong issuer": key.mint("alice", issuer="https://evil.example/", audience=AUDIENCE),
        "unknown kid": jwt.encode(
            good_claims, other.private_key, algorithm="RS256", headers={"kid": "not-a-known-kid"}
        ),
        "known kid, other key": jwt.encode(good_claims, other.private_key, algorithm="RS256", headers={"kid": kid}),
        "no kid": jwt.encode(good_claims, key.private_key, algorithm="RS256"),
        "tampered payload": valid.split(".")[0]
        + "."
        + b64(json.dumps({**good_claims, "sub": "dev|root"}).encode())
        + "."
        + valid.split(".")[2],
        "no exp": jwt.encode(
            {k: v for k, v in good_claims.items() if k != "exp"},
            key.private_key,
            algorithm="RS256",
            headers={"kid": kid},
        ),
        "no sub": jwt.encode(
            {k: v for k, v in good_claims.items() if k != "sub"},
            key.private_key,
            algorithm="RS256",
            headers={"kid": kid},
        ),
        "garbage": "not.a.jwt",
        "empty": "",
    }
    for name, token in forged.items():
        with pytest.raises(InvalidToken):
            await verifier.verify(token)
            pytest.fail(f"accepted: {name}")
    assert (await verifier.verify(valid)).user_id == "dev|alice"


async def test_unknown_kid_refetches_once_then_is_rate_limited(tenant):
    verifier = TokenVerifier(tenant.issuer, AUDIENCE, min_refresh_interval=60)
    await verifier.verify(tenant.token())
    assert tenant.hits == 1
    # key rotation: the tenant publishes a new key; a token signed by it triggers one refetch
    tenant.keys.append(DevIdentity.generate())
    assert (await verifier.verify(tenant.token("bob", key=tenant.keys[1]))).user_id == "dev|bob"
    assert tenant.hits == 2
    # a flood of unknown kids cannot make the verifier hammer the JWKS endpoint
    stranger = DevIdentity.generate()
    for _ in range(20):
        with pytest.raises(InvalidToken):
            await verifier.verify(stranger.mint("x", issuer=tenant.issuer, audience=AUDIENCE))
    assert tenant.hits == 2


async def test_unreachable_jwks_refuses_tokens():
    identity = DevIdentity.generate()
    verifier = TokenVerifier("http://127.0.0.1:9/", AUDIENCE)  # discard port: nothing listens
    with pytest.raises(InvalidToken):
        await verifier.verify(identity.mint("a", issuer="http://127.0.0.1:9/", audience=AUDIENCE))


def test_header_and_issuer_helpers():
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("abc") is None and bearer_token("Basic abc") is None and bearer_token(None) is None
    assert normalise_issuer("acme.eu.auth0.com") == "https://acme.eu.auth0.com/"
    assert normalise_issuer("https://acme.eu.auth0.com") == "https://acme.eu.auth0.com/"


def test_dev_key_is_persisted_private_and_shared(tmp_path):
    path = tmp_path / "dev-identity.pem"
    first = DevIdentity.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert DevIdentity.load_or_create(path).kid == first.kid
