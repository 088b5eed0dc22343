"""The one client of the bridge's HTTP API (authviz.bridgeclient): log records posted one way,
answers read one way, errors as one sentence with the status, credentials never to another origin."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from authviz.bridgeclient import (
    BridgeClient,
    BridgeError,
    logs_body,
    logs_headers,
    logs_url,
    read_logs_answer,
    same_origin,
)


def test_log_records_are_posted_as_json_lines_with_the_token_verbatim():
    records = [{"log_id": "1", "data": {"type": "s"}}, {"log_id": "2"}]
    assert [orjson.loads(line) for line in logs_body(records).splitlines()] == records
    assert logs_body(records).endswith(b"\n")
    assert logs_headers("tok en")["Authorization"] == "tok en"
    assert logs_url("http://h:1") == logs_url("http://h:1/") == "http://h:1/auth0/logs"
    assert logs_url("http://h:1/custom/hook") == "http://h:1/custom/hook"


def test_answers_to_a_logs_post_are_read_one_way():
    assert read_logs_answer(200, b'{"stored": 2}', "u") == {"stored": 2}
    cases = {
        401: "refused the token",
        404: "no log-stream webhook there",
        413: "refused the batch with HTTP 413",
        503: "answered HTTP 503",
    }
    for status, words in cases.items():
        with pytest.raises(BridgeError, match=words) as caught:
            read_logs_answer(status, b'{"error": "why"}', "http://h/auth0/logs")
        assert caught.value.status == status
    with pytest.raises(BridgeError) as caught:
        read_logs_answer(404, b"404: Not Found", "u", target_setting="target")
    assert str(caught.value).endswith("(target).") and caught.value.settings == ("target",)
    with pytest.raises(BridgeError, match="without the bridge's JSON counts"):
        read_logs_answer(200, b"<html>", "u")


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]
    redirect_to: str | None = None

    def log_message(self, *args):  # quiet
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {
                "path": self.path,
                "body": body.decode(),  # type: ignore[attr-defined]
                **{k.lower(): v for k, v in self.headers.items()},
            }
        )
        target = self.server.redirect_to  # type: ignore[attr-defined]
        if target and not self.path.startswith("/landed"):
            self.send_response(302)
            self.send_header("Location", target + "/landed")
            self.end_headers()
            return
        if self.path.startswith("/missing"):
            payload, status = b'{"error": "no such route"}', 404
        else:
            payload, status = json.dumps({"messages": [{"text": "hi"}], "access_token": "t1"}).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer


@contextmanager
def _server(redirect_to: str | None = None) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    server.redirect_to = redirect_to  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_routes_errors_and_unreachable_bridges():
    with _server() as bridge:
        client = BridgeClient(_url(bridge), bearer="user-token")
        assert client.chat_messages(5) == [{"text": "hi"}]
        assert client.dev_token("bob") == "t1"
        assert bridge.seen[0]["authorization"] == "Bearer user-token"
        assert bridge.seen[1]["body"] == "user=bob"
        with pytest.raises(BridgeError, match="answered 404 to GET /missing: no such route") as caught:
            client.request("GET", "/missing")
        assert caught.value.status == 404
        assert "user-token" not in repr(client)
    with pytest.raises(BridgeError, match="could not be reached") as caught:
        BridgeClient(_url(bridge), timeout=2).request("GET", "/")
    assert caught.value.status is None
    assert not BridgeClient(_url(bridge)).ready(timeout=1)


def test_credentials_follow_a_redirect_only_within_the_same_origin():
    with _server() as elsewhere, _server(redirect_to=None) as bridge:
        bridge.redirect_to = _url(elsewhere)  # type: ignore[attr-defined]
        client = BridgeClient(_url(bridge), bearer="secret-token", headers={"X-Extra": "also-secret"})
        assert client.chat_messages() == [{"text": "hi"}]
        assert bridge.seen[0]["authorization"] == "Bearer secret-token"
        landed = elsewhere.seen[0]
        assert landed["path"] == "/landed"
        assert "authorization" not in landed and "x-extra" not in landed
        assert landed["accept"] == "application/json"
    with _server() as bridge:
        bridge.redirect_to = _url(bridge)  # type: ignore[attr-defined]
        BridgeClient(_url(bridge), bearer="secret-token").chat_messages()
        assert [seen["authorization"] for seen in bridge.seen] == ["Bearer secret-token"] * 2
    assert same_origin("http://a:80/x", "http://a/y") and not same_origin("http://a:1", "https://a:1")
