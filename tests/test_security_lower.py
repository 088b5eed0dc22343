"""Issue #11, item 7 (the lower items), each attacked: the encrypted-channel misconfiguration, a
redirect to another origin carrying the bearer token, a JWKS issuer that is down, a client that
disconnects mid-body. (Forwarding headers on /dev/token: test_security_access.py; header echo
and version banner: test_security_guard.py.)"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from authviz.bridge.devidentity import DevIdentity
from authviz.bridge.identity import InvalidToken, JwksError, TokenVerifier
from authviz.live.auth import EndpointAuthorizer
from authviz.live.errors import AuthorizationError, HistoryError
from authviz.live.history import HistoryClient
from authviz.bridgeclient import same_origin

from bridge_support import LOG_TOKEN, Subscriber, bridge_hub, form, post_logs, record

AUDIENCE = "https://api.example/"


# -- the encrypted-channel misconfiguration: one sentence, no traceback --------------------------


def test_allowing_an_encrypted_channel_is_one_sentence_not_a_500(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "authviz",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path),
            "--allow-channel",
            "private-encrypted-x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("authviz: --allow-channel private-encrypted-x is an encrypted channel")
    )
    assert "Traceback" not in done.stderr


def test_an_encrypted_channel_in_a_hand_built_policy_is_a_501_sentence(tmp_path, caplog):
    from authviz.bridge.policy import ChannelPolicy, Decision

    class Permissive(ChannelPolicy):
        def decide(self, user_id, channel, permissions=frozenset()):
            return Decision(True, "everything")

    with bridge_hub(tmp_path, "--dev-identity") as hub:
        hub.bridge.config.policy = Permissive()
        sub = Subscriber(hub.ws_url)
        try:
            with caplog.at_level(logging.DEBUG):
                status, body = form(
                    hub.url,
                    "/pusher/auth",
                    {"socket_id": sub.socket_id, "channel_name": "private-encrypted-x"},
                    token=hub.token("ana"),
                )
        finally:
            sub.close()
    assert status == 501, (status, body)
    assert "encrypted channel" in json.loads(body)["error"]
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


# -- redirects never carry the token to another origin --------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """A server on another origin that records the headers it is sent."""

    seen: list[dict[str, str]] = []

    def _answer(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"auth": "x:y"}' if self.command == "POST" else b'{"events": [], "last_seq": 0, "more": false}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(302 if self.command == "GET" else 303)
        self.send_header("Location", type(self).target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def servers():
    started = []
    for handler in (_Recorder, _Redirector):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    recorder, redirector = started
    _Recorder.seen = []
    # another origin: same host, another port
    _Redirector.target = f"http://127.0.0.1:{recorder.server_address[1]}"
    yield f"http://127.0.0.1:{redirector.server_address[1]}"
    for server in started:
        server.shutdown()
        server.server_close()


def test_the_auth_client_never_sends_the_token_to_another_origin(servers):
    authorizer = EndpointAuthorizer(
        servers + "/pusher/auth", {"Authorization": "Bearer SECRET-TOKEN", "X-Api-Key": "k2"}
    )
    try:
        authorizer.authorize("1.2", "private-x", None)
    except AuthorizationError:
        pass  # whatever the other origin answered, what matters is what it was sent
    assert _Recorder.seen, "the redirect was not followed"
    for headers in _Recorder.seen:
        assert "authorization" not in headers and "x-api-key" not in headers


def test_the_history_client_never_sends_the_token_to_another_origin(servers):
    client = HistoryClient(servers + "/auth0/events", headers={"Authorization": "Bearer SECRET-TOKEN"})
    try:
        client.fetch(0)
    except HistoryError:
        pass
    assert _Recorder.seen, "the redirect was not followed"
    assert all("authorization" not in headers for headers in _Recorder.seen)


def test_same_origin():
    assert same_origin("http://h/a", "http://H:80/b")
    assert not same_origin("http://h/a", "https://h/a")
    assert not same_origin("http://h:1/a", "http://h:2/a")
    assert not same_origin("http://h/a", "http://evil.example/a")


# -- JWKS failures remembered, last good keys kept -----------------------------------------------


class _FlakyTenant:
    def __init__(self) -> None:
        self.key = DevIdentity.generate()
        self.down = False
        self.hits = 0
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self.jwks)
        self.server = TestServer(app, host="127.0.0.1")

    async def jwks(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.down:
            return web.Response(status=503)
        return web.json_response({"keys": [self.key.public_jwk()]})

    @property
    def issuer(self) -> str:
        return str(self.server.make_url("/"))

    def token(self, user: str = "alice", key: DevIdentity | None = None) -> str:
        return (key or self.key).mint(user, issuer=self.issuer, audience=AUDIENCE)


async def test_jwks_failures_are_remembered_and_good_keys_kept():
    tenant = _FlakyTenant()
    await tenant.server.start_server()
    try:
        now = [1000.0]
        verifier = TokenVerifier(
            tenant.issuer, AUDIENCE, cache_ttl=60, failure_ttl=30, min_refresh_interval=0, clock=lambda: now[0]
        )
        tenant.down = True
        for _ in range(100):  # the issuer is down: one fetch, not 100
            with pytest.raises(JwksError):
                await verifier.verify(tenant.token())
        assert tenant.hits == 1
        now[0] += 31
        tenant.down = False
        assert (await verifier.verify(tenant.token())).user_id == "dev|alice"
        assert tenant.hits == 2
        # the cache expires while the issuer is down: the keys it had stay valid
        tenant.down = True
        now[0] += 61
        for _ in range(50):
            assert (await verifier.verify(tenant.token())).user_id == "dev|alice"
        assert tenant.hits == 3
        # an unknown key id while down costs no fetch either, and is refused
        with pytest.raises(InvalidToken):
            await verifier.verify(tenant.token(key=DevIdentity.generate()))
        assert tenant.hits == 3
    finally:
        await tenant.server.close()


# -- a client that disconnects mid-body is not an ERROR with a traceback ------------------------


def test_a_client_gone_mid_body_is_quiet(tmp_path, caplog):
    with bridge_hub(tmp_path) as hub:
        with caplog.at_level(logging.INFO):
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", hub.port))
                s.sendall(
                    b"POST /auth0/logs HTTP/1.1\r\nHost: x\r\nAuthorization: "
                    + LOG_TOKEN.encode()
                    + b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                    + b'{"log_id": "1", "data": '
                )
                s.close()
            # the server is fine and says so for the next request
            assert post_logs(hub.url, [record(1)])[0] == 200
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]
    assert "Traceback" not in caplog.text
