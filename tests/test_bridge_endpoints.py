"""The bridge's HTTP endpoints on a real hub (loopback HTTP, real SQLite, real websocket)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote

import jwt
import pytest

from authviz.bridge.devidentity import DevIdentity
from authviz.pusher import verify_channel_auth, verify_user_auth
from authviz.topics import CHAT_CHANNEL, EVENTS_CHANNEL, MESSAGE_ADDED_EVENT, user_channel

from bridge_support import KEY, LOG_TOKEN, SECRET, Subscriber, bridge_hub, form, http, post_logs, record

ORIGIN = "https://feed.example"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    state = tmp_path_factory.mktemp("bridge")
    with bridge_hub(state, "--dev-identity", "--cors-origin", ORIGIN, "--max-log-body", "200000") as h:
        yield h


def _counts(hub) -> dict:
    import asyncio

    return asyncio.run_coroutine_threadsafe(hub.bridge.store.counts(), hub.loop).result(5)


def events(hub, after=0, limit=1000, token=LOG_TOKEN) -> dict:
    status, body, _ = http(
        "GET", f"{hub.url}/auth0/events?after={after}&limit={limit}", headers={"Authorization": token}
    )
    assert status == 200, body
    return json.loads(body)


# -- log stream --------------------------------------------------------------------------------


def test_every_body_format_is_accepted_and_retries_are_idempotent(hub):
    before = _counts(hub)["events"]
    assert post_logs(hub.url, [record(101), record(102)], fmt="lines")[0] == 200
    assert post_logs(hub.url, [record(103), record(104)], fmt="array")[0] == 200
    status, body = post_logs(hub.url, [record(105)], fmt="object")
    assert status == 200 and body["stored"] == 1
    # Auth0 retries the same batch: nothing is stored twice
    status, body = post_logs(hub.url, [record(101), record(102)], fmt="array")
    assert status == 200 and body == {"received": 2, "stored": 0, "duplicates": 2, "quarantined": 0, "last_seq": None}
    assert _counts(hub)["events"] == before + 5
    # "Bearer <token>" is accepted too
    status, _ = post_logs(hub.url, [record(106)], token=f"Bearer {LOG_TOKEN}")
    assert status == 200


def test_bad_requests_are_refused_and_change_nothing(hub):
    post_logs(hub.url, [record(150)])
    before = _counts(hub)
    assert post_logs(hub.url, [record(151)], token=None)[0] == 401
    assert post_logs(hub.url, [record(152)], token="wrong-token")[0] == 401
    assert post_logs(hub.url, [record(153)], token=LOG_TOKEN + "x")[0] == 401
    assert post_logs(hub.url, [record(154)], token=LOG_TOKEN[:-1])[0] == 401
    status, body = post_logs(hub.url, b"{this is not json")
    assert status == 400 and "nothing was stored" in body["error"] and body["reasons"]
    assert post_logs(hub.url, b"")[0] == 400
    oversized = [record(1000 + i) for i in range(600)]  # > 200,000 bytes
    assert post_logs(hub.url, oversized)[0] == 413
    assert _counts(hub) == before
    assert all(
        int(e["event_id"]) < 151 or int(e["event_id"]) > 2000
        for e in events(hub)["events"]
        if e["event_id"].startswith("900")
    )


def test_a_mixed_batch_stores_the_good_records_and_quarantines_the_rest(hub):
    body = (json.dumps(record(201)) + "\n{oops\n" + json.dumps({"unknown": "shape"})).encode()
    status, result = post_logs(hub.url, body)
    assert status == 200 and result["stored"] == 1 and result["quarantined"] == 2
    status, data, _ = http("GET", hub.url + "/auth0/quarantine", headers={"Authorization": LOG_TOKEN})
    assert status == 200
    raws = {q["raw"] for q in json.loads(data)["quarantine"]}
    assert "{oops" in raws
    assert http("GET", hub.url + "/auth0/quarantine", headers={"Authorization": "x"})[0] == 401


def test_history_pages_by_seq_and_needs_authorization(hub):
    post_logs(hub.url, [record(300 + i) for i in range(5)])
    everything = events(hub)["events"]
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    page = events(hub, after=seqs[0], limit=2)
    assert [e["seq"] for e in page["events"]] == seqs[1:3] and page["more"] is True
    assert page["last_seq"] == seqs[2]
    tail = events(hub, after=seqs[-1])
    assert tail == {"events": [], "last_seq": seqs[-1], "more": False}
    one = everything[-1]
    assert set(one) >= {"event_id", "timestamp", "type", "category", "country_name", "raw", "seq", "received_at"}
    assert one["raw"]["log_id"] == one["event_id"]
    # a verified user may read the history too; others may not
    # a user token needs read:auth_events (tests/test_security_access.py refuses one without)
    assert events(hub, token=f"Bearer {hub.token('alice', permissions=['read:auth_events'])}")["events"]
    assert http("GET", hub.url + "/auth0/events")[0] == 401
    assert http("GET", hub.url + "/auth0/events", headers={"Authorization": "Bearer nope"})[0] == 403
    assert http("GET", hub.url + "/auth0/events?limit=0", headers={"Authorization": LOG_TOKEN})[0] == 400
    assert http("GET", hub.url + "/auth0/events?after=x", headers={"Authorization": LOG_TOKEN})[0] == 400


def test_the_history_head_is_the_newest_stored_event_with_the_same_authorization(hub):
    post_logs(hub.url, [record(400 + i) for i in range(3)])
    newest = events(hub)["events"][-1]
    for token in (LOG_TOKEN, f"Bearer {hub.token('alice', permissions=['read:auth_events'])}"):
        status, body, _ = http("GET", hub.url + "/auth0/events/head", headers={"Authorization": token})
        assert status == 200 and json.loads(body) == {"last_seq": newest["seq"], "event_id": newest["event_id"]}
    assert http("GET", hub.url + "/auth0/events/head")[0] == 401
    assert http("GET", hub.url + "/auth0/events/head", headers={"Authorization": "Bearer nope"})[0] == 403
    assert http("GET", hub.url + "/auth0/events/head", headers={"Authorization": "wrong"})[0] == 403


def test_listeners_report_channels(hub):
    sub = Subscriber(hub.ws_url)
    try:
        sub.subscribe("auth0")
        status, data, _ = http("GET", hub.url + "/auth0/listeners", headers={"Authorization": LOG_TOKEN})
        assert status == 200
        assert json.loads(data)["channels"]["auth0"]["subscription_count"] >= 1
    finally:
        sub.close()


# -- channel authorization ---------------------------------------------------------------------


def test_private_and_presence_authorization_follow_the_policy(hub):
    alice = hub.token("alice", extra={"picture": "https://img.example/alice.png"}, permissions=["read:auth_events"])
    socket_id = "123.456"
    own = user_channel("dev|alice")
    status, body = form(hub.url, "/pusher/auth", {"socket_id": socket_id, "channel_name": own}, alice)
    assert status == 200 and verify_channel_auth(KEY, SECRET, socket_id, own, json.loads(body)["auth"])
    # another user's channel, even spelled differently: bare 403
    for channel in (
        user_channel("dev|bob"),
        "private-user-dev=7Cbob",
        "private-user-dev|alice",
        "private-admin",
        "private-encrypted-secret",
    ):
        assert form(hub.url, "/pusher/auth", {"socket_id": socket_id, "channel_name": channel}, alice) == (403, b"")
    status, body = form(hub.url, "/pusher/auth", {"socket_id": socket_id, "channel_name": EVENTS_CHANNEL}, alice)
    assert status == 200
    # presence user_info comes from the verified claims, never from the request
    status, body = form(
        hub.url,
        "/pusher/auth",
        {
            "socket_id": socket_id,
            "channel_name": CHAT_CHANNEL,
            "channel_data": json.dumps({"user_id": "dev|root", "user_info": {"name": "Root"}}),
        },
        alice,
    )
    reply = json.loads(body)
    assert status == 200
    assert json.loads(reply["channel_data"]) == {
        "user_id": "dev|alice",
        "user_info": {"name": "Alice", "picture": "https://img.example/alice.png"},
    }
    assert verify_channel_auth(KEY, SECRET, socket_id, CHAT_CHANNEL, reply["auth"], reply["channel_data"])
    # malformed socket id: a clear 400
    status, body = form(hub.url, "/pusher/auth", {"socket_id": "x", "channel_name": CHAT_CHANNEL}, alice)
    assert status == 400 and b"socket_id" in body


def test_user_authentication_signs_a_channel_safe_id(hub):
    status, body = form(hub.url, "/pusher/user-auth", {"socket_id": "1.2"}, hub.token("alice"))
    reply = json.loads(body)
    assert status == 200 and json.loads(reply["user_data"])["id"] == "dev=7Calice"
    assert verify_user_auth(KEY, SECRET, "1.2", reply["user_data"], reply["auth"])


def test_forged_tokens_get_a_bare_403(hub):
    issuer = hub.bridge.verifier.issuer
    audience = hub.bridge.verifier.audience
    stranger = DevIdentity.generate()
    now = int(time.time())
    claims = {"sub": "dev|alice", "iss": issuer, "aud": audience, "exp": now + 600}

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    tokens = [
        f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': hub.bridge.dev_identity.kid})}.{b64(claims)}.",
        hub.token("alice", now=now - 10_000, ttl=60),
        hub.token("alice", audience="https://other"),
        hub.bridge.dev_identity.mint("alice", issuer="http://evil.example/", audience=audience),
        jwt.encode(claims, stranger.private_key, algorithm="RS256", headers={"kid": "nope"}),
        jwt.encode(
            claims,
            "a-shared-secret-of-at-least-32-bytes!",
            algorithm="HS256",
            headers={"kid": hub.bridge.dev_identity.kid},
        ),
    ]
    for token in tokens:
        for path, fields in (
            ("/pusher/auth", {"socket_id": "1.1", "channel_name": CHAT_CHANNEL}),
            ("/pusher/user-auth", {"socket_id": "1.1"}),
        ):
            assert form(hub.url, path, fields, token) == (403, b"")
    assert form(hub.url, "/pusher/auth", {"socket_id": "1.1", "channel_name": CHAT_CHANNEL}) == (403, b"")
    raw = http(
        "POST",
        hub.url + "/pusher/auth",
        "socket_id=1.1&channel_name=presence-chat",
        {"Authorization": hub.token("alice"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert raw[0] == 403  # a token without "Bearer" is not a bearer token


def test_jsonp_callbacks_must_be_strict_identifiers(hub):
    token = hub.token("alice")
    base = f"{hub.url}/pusher/auth?socket_id=1.1&channel_name={CHAT_CHANNEL}&access_token={token}"
    for evil in (
        "alert(1)//",
        "a;alert(1)",
        "</script><script>alert(1)</script>",
        "a b",
        "1abc",
        "a..b",
        "a.",
        "x" * 65,
        "a.b.c.d.e",
        "new",
        "a['b']",
        "cb%0a",
        "constructor.constructor('x')()",
        "",
        "a.function",
    ):
        status, body, _ = http("GET", base + "&callback=" + quote(evil))
        assert status == 400 and b"alert" not in body, evil
    status, body, headers = http("GET", base + "&callback=Pusher.auth_callbacks")
    assert status == 200 and headers["Content-Type"].startswith("application/javascript")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body.startswith(b"Pusher.auth_callbacks({") and body.endswith(b"});")
    status, body, _ = http("GET", f"{hub.url}/pusher/auth?socket_id=1.1&channel_name={CHAT_CHANNEL}&callback=cb")
    assert status == 403 and body == b"cb(null);"
    status, body, _ = http("GET", f"{hub.url}/pusher/user-auth?socket_id=1.1&callback=$cb_2&access_token={token}")
    assert status == 200 and body.startswith(b"$cb_2(")


def test_cors_answers_only_allowed_origins(hub):
    status, _, headers = http(
        "OPTIONS", hub.url + "/pusher/auth", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert status == 204 and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    status, _, headers = http("OPTIONS", hub.url + "/pusher/auth", headers={"Origin": "https://evil.example"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    _, _, headers = http(
        "POST",
        hub.url + "/pusher/auth",
        "socket_id=1.1&channel_name=presence-chat",
        {
            "Origin": "https://evil.example",
            "Authorization": f"Bearer {hub.token('alice')}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert "Access-Control-Allow-Origin" not in headers


def test_csrf_header_can_be_required(tmp_path):
    with bridge_hub(tmp_path, "--dev-identity", "--csrf-header", "X-Requested-With") as h:
        fields = {"socket_id": "1.1", "channel_name": CHAT_CHANNEL}
        assert form(h.url, "/pusher/auth", fields, h.token("alice")) == (403, b"")
        status, _ = form(h.url, "/pusher/auth", fields, h.token("alice"), {"X-Requested-With": "XMLHttpRequest"})
        assert status == 200


# -- chat --------------------------------------------------------------------------------------


def test_chat_author_comes_from_the_token_and_html_stays_data(hub):
    sub = Subscriber(hub.ws_url)
    try:
        status, body = form(
            hub.url, "/pusher/auth", {"socket_id": sub.socket_id, "channel_name": CHAT_CHANNEL}, hub.token("carol")
        )
        assert sub.subscribe(CHAT_CHANNEL, json.loads(body))["event"] == "pusher_internal:subscription_succeeded"
        html = '<script>alert("x")</script><b onclick=steal()>hi</b> & bye'
        status, data, _ = http(
            "POST",
            hub.url + "/chat/messages",
            json.dumps({"text": html, "user_id": "dev|root", "name": "Root"}),
            {"Authorization": f"Bearer {hub.token('alice')}", "Content-Type": "application/json"},
        )
        assert status == 201
        message = json.loads(data)
        assert message["user_id"] == "dev|alice" and message["name"] == "Alice" and message["text"] == html
        live = sub.wait(lambda m: m.get("event") == MESSAGE_ADDED_EVENT)
        assert json.loads(live["data"])["text"] == html  # raw text as JSON data: escaping is the renderer's
        status, data, _ = http(
            "GET", hub.url + "/chat/messages", headers={"Authorization": f"Bearer {hub.token('bob')}"}
        )
        assert status == 200 and json.loads(data)["messages"][-1]["text"] == html
    finally:
        sub.close()


def test_chat_refuses_strangers_and_bad_messages(hub):
    before = _counts(hub)["chat_messages"]
    headers = {"Authorization": f"Bearer {hub.token('alice')}", "Content-Type": "application/json"}
    assert (
        http("POST", hub.url + "/chat/messages", json.dumps({"text": "hi"}), {"Content-Type": "application/json"})[0]
        == 403
    )
    assert http("POST", hub.url + "/chat/messages", json.dumps({"text": "   "}), headers)[0] == 400
    assert http("POST", hub.url + "/chat/messages", json.dumps({"text": "x" * 1001}), headers)[0] == 400
    assert http("POST", hub.url + "/chat/messages", "x" * 20_000, headers)[0] == 413
    assert http("GET", hub.url + "/chat/messages")[0] == 403
    assert _counts(hub)["chat_messages"] == before


# -- dev identity --------------------------------------------------------------------------------


def test_dev_identity_serves_its_jwks_and_mints_for_loopback(hub):
    status, body, _ = http("GET", hub.url + "/.well-known/jwks.json")
    assert status == 200 and json.loads(body)["keys"][0]["kid"] == hub.bridge.dev_identity.kid
    status, body = form(hub.url, "/dev/token", {"user": "dave"})
    token = json.loads(body)["access_token"]
    status, _ = form(hub.url, "/pusher/auth", {"socket_id": "1.1", "channel_name": CHAT_CHANNEL}, token)
    assert status == 200
    assert form(hub.url, "/dev/token", {"user": "bad user!"})[0] == 400


def test_without_dev_identity_there_is_no_jwks_and_no_minting(tmp_path):
    with bridge_hub(tmp_path) as h:
        assert http("GET", h.url + "/.well-known/jwks.json")[0] == 404
        assert form(h.url, "/dev/token", {"user": "dave"})[0] == 404
        assert form(h.url, "/pusher/auth", {"socket_id": "1.1", "channel_name": CHAT_CHANNEL}, "x.y.z")[0] == 403


def test_parse_workers_give_the_same_answers(tmp_path):
    with bridge_hub(tmp_path, "--parse-workers", "1") as h:
        status, body = post_logs(h.url, [record(1), record(2)])
        assert status == 200 and body["stored"] == 2
        status, body = post_logs(h.url, b"{nope")
        assert status == 400 and body["reasons"] and "nothing was stored" in body["error"]
        status, body = post_logs(h.url, [record(2)])
        assert status == 200 and body["duplicates"] == 1


def test_a_body_arriving_in_pieces_is_read_whole(hub):
    # The body reaches the server in two TCP segments 100 ms apart: every record must be stored.
    import socket
    from urllib.parse import urlsplit

    batch = [record(5000 + i) for i in range(300)]
    body = json.dumps(batch).encode()
    assert len(body) < 200_000
    url = urlsplit(hub.url)
    head = (
        f"POST /auth0/logs HTTP/1.1\r\nHost: {url.hostname}\r\nAuthorization: {LOG_TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.1)
        sock.sendall(body[len(body) // 2 :])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    assert b" 200 " in status_line, response[:300]
    result = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert result["received"] == 300 and result["stored"] == 300


def test_a_failing_store_answers_503_and_neither_stores_nor_publishes(tmp_path):
    import sqlite3

    with bridge_hub(tmp_path) as failing:
        assert post_logs(failing.url, [record(1)])[0] == 200
        failing.drain()
        published = failing.bridge.queue.stats()["published"]
        side = sqlite3.connect(failing.bridge.store.path)
        side.execute("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        side.commit()
        status, body = post_logs(failing.url, [record(2), record(3)])
        assert status == 503 and "retry later" in body["error"]
        failing.drain()
        assert failing.bridge.queue.stats()["published"] == published  # nothing of the failed batch
        assert _counts(failing)["events"] == 1
        side.execute("DROP TRIGGER refuse")
        side.commit()
        side.close()
        status, body = post_logs(failing.url, [record(2), record(3)])  # Auth0's retry
        assert status == 200 and body["stored"] == 2
        assert _counts(failing)["events"] == 3
