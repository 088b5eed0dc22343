"""The live client against real servers: the embedded hub and soketi, with faults injected.

Every test runs against both servers (``backend`` is parametrised). Faults come from the servers
themselves (restart, graceful stop) and from :class:`FaultProxy`, a real websocket proxy that closes
clients with chosen codes, drops or freezes connections.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse

import pytest

from authviz.live import (
    AuthorizationError,
    Backoff,
    ConnectionRejected,
    EndpointAuthorizer,
    LiveClient,
    SecretAuthorizer,
)
from authviz.pusher.signing import authenticate_user, authorize_channel
from live_support import (
    KEY,
    MASTER_KEY,
    SECRET,
    FaultProxy,
    clients,  # noqa: F401 - fixture
    free_port,
    live_threads,
    make_backend,
    node_missing_reason,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)

FAST = dict(initial=0.05, cap=0.5, stable_after=1.0)


@pytest.fixture(scope="module", params=["hub", "soketi"])
def backend(request):
    if request.param == "soketi":
        reason = node_missing_reason()
        if reason:
            pytest.skip(reason)
    server = make_backend(request.param)
    yield server
    server.close()


@pytest.fixture
def proxy(backend):
    p = FaultProxy(backend.port)
    yield p
    p.close()


class RecordingAuthorizer(SecretAuthorizer):
    """Signs with the secret and records the socket_id of every authorization."""

    def __init__(self) -> None:
        super().__init__(KEY, SECRET, MASTER_KEY)
        self.socket_ids: list[tuple[str, str]] = []

    def authorize(self, socket_id, channel, channel_data):
        self.socket_ids.append((socket_id, channel))
        return super().authorize(socket_id, channel, channel_data)


def client_for(settings, clients, **options) -> LiveClient:
    options.setdefault("backoff", Backoff(**FAST))
    c = LiveClient(settings, **options)
    clients.append(c)
    return c


def next_data(sub, timeout=5.0):
    event = sub.get(timeout)
    assert event is not None, f"no event within {timeout} s; stats={sub.stats}, errors={list(sub.errors)}"
    return event


# ---------------------------------------------------------------------------------------- channels
def test_every_channel_kind_and_server_to_user_events(backend, clients):
    c = client_for(backend.settings(), clients, user={"id": "ana", "user_info": {"name": "Ana"}}, signin=True)
    sub = c.subscribe(
        "auth0", "private-auth0-events", "presence-chat", "private-encrypted-notes", "#server-to-user-ana"
    )
    assert sub.wait_subscribed(10), list(sub.errors)
    assert wait_for(c.signed_in.is_set, 5)
    assert sub.members() == {"ana": {"name": "Ana"}}
    backend.trigger("auth0", "user-loggedIn", {"n": 1})
    backend.trigger("private-auth0-events", "auth-event", {"n": 2})
    backend.trigger("presence-chat", "message-added", {"n": 3})
    backend.trigger("private-encrypted-notes", "note", {"n": 4, "secret": "only for ana"})
    backend.send_to_user("ana", "session-event", {"n": 5})
    got = {}
    for _ in range(5):
        event = next_data(sub)
        got[event.channel] = (event.name, event.data)
    assert got == {
        "auth0": ("user-loggedIn", {"n": 1}),
        "private-auth0-events": ("auth-event", {"n": 2}),
        "presence-chat": ("message-added", {"n": 3}),
        "private-encrypted-notes": ("note", {"n": 4, "secret": "only for ana"}),
        "#server-to-user-ana": ("session-event", {"n": 5}),
    }
    stats = sub.stats
    assert (stats.received, stats.delivered, stats.dropped, stats.decrypt_failures) == (5, 5, 0, 0)


def test_event_filter_and_presence_member_callbacks(backend, clients):
    watcher = client_for(backend.settings(), clients, user={"id": "w"})
    sub = watcher.subscribe("presence-room", events=["wanted"])
    seen: list[tuple] = []
    done = threading.Event()
    sub.on_member_added(lambda ch, uid, info: seen.append(("+", ch, uid, info)))
    sub.on_member_removed(lambda ch, uid, info: (seen.append(("-", ch, uid, info)), done.set()))
    events: list = []
    sub.on_event(events.append)
    assert sub.wait_subscribed(10)
    other = client_for(backend.settings(), clients, user={"id": "bob", "user_info": {"n": 2}})
    other_sub = other.subscribe("presence-room")
    assert other_sub.wait_subscribed(10)
    wait_for(lambda: ("+", "presence-room", "bob", {"n": 2}) in seen, 5)
    assert watcher.members("presence-room") == {"w": None, "bob": {"n": 2}}
    backend.trigger("presence-room", "unwanted", {})
    backend.trigger("presence-room", "wanted", {"k": 1})
    wait_for(lambda: events, 5)
    assert [e.name for e in events] == ["wanted"]
    # a client event from bob carries his user_id
    sub2 = watcher.subscribe("presence-room", events=["client-wave"])
    assert other.trigger("presence-room", "client-wave", {"hi": 2})
    wave = next_data(sub2)
    assert (wave.data, wave.user_id) == ({"hi": 2}, "bob")
    other_sub.close()
    assert done.wait(5)
    assert ("-", "presence-room", "bob", {"n": 2}) in seen
    assert watcher.members("presence-room") == {"w": None}


# ---------------------------------------------------------------------------------------- restarts
def test_restart_resubscribes_private_and_presence_with_fresh_auth(backend, clients):
    auth = RecordingAuthorizer()
    c = client_for(backend.settings(), clients, user={"id": "ana"}, authorizer=auth)
    sub = c.subscribe("private-auth0-events", "presence-chat")
    assert sub.wait_subscribed(10)
    first_socket = c.socket_id
    backend.trigger("private-auth0-events", "auth-event", {"before": True})
    assert next_data(sub).data == {"before": True}

    backend.restart()
    assert wait_for(lambda: c.socket_id and c.socket_id != first_socket, 15)
    assert sub.wait_subscribed(10), list(sub.errors)
    second_socket = c.socket_id
    # every channel was authorized again, for the new socket_id (the old auth would be refused)
    assert {(second_socket, "private-auth0-events"), (second_socket, "presence-chat")} <= set(auth.socket_ids)
    assert sub.members() == {"ana": None}
    backend.trigger("private-auth0-events", "auth-event", {"after": True})
    backend.trigger("presence-chat", "message-added", {"after": True})
    assert {next_data(sub).channel, next_data(sub).channel} == {"private-auth0-events", "presence-chat"}
    assert sub.stats.reconnects >= 1


def test_a_three_second_outage_causes_only_a_few_reconnects(backend, clients):
    c = client_for(
        backend.settings(), clients, user={"id": "ana"}, backoff=Backoff(initial=0.1, cap=2.0, stable_after=2.0)
    )
    sub = c.subscribe("private-auth0-events", "presence-chat")
    assert sub.wait_subscribed(10)
    before = c.reconnects
    backend.stop()
    time.sleep(3.0)
    during = c.reconnects - before
    backend.start()
    assert sub.wait_subscribed(15), list(sub.errors)
    # 0.1 s doubling, jittered: about 5 attempts in 3 s; a storm would be thousands
    assert 1 <= during <= 8, during
    assert sum("Could not connect" in str(e) for e in sub.errors) == 1  # once per outage
    backend.trigger("private-auth0-events", "auth-event", {"back": 1})
    assert next_data(sub).data == {"back": 1}


# ---------------------------------------------------------------------------------------- close codes
@pytest.mark.parametrize("code", [4200, 4201])
def test_4200_range_closes_reconnect_at_once(backend, proxy, clients, code):
    c = client_for(
        proxy.settings(backend), clients, user={"id": "u"}, backoff=Backoff(initial=4.0, cap=4.0)
    )  # a back-off would show as >= 2 s
    sub = c.subscribe("private-auth0-events")
    assert sub.wait_subscribed(10)
    old = c.socket_id
    started = time.monotonic()
    assert proxy.close_all(code) == 1
    assert wait_for(lambda: c.is_subscribed("private-auth0-events") and c.socket_id != old, 5)
    assert time.monotonic() - started < 1.5
    assert c.reconnects == 1
    backend.trigger("private-auth0-events", "auth-event", {"code": code})
    assert next_data(sub).data == {"code": code}


def test_repeated_4200_backs_off(backend, proxy, clients):
    c = client_for(proxy.settings(backend), clients, backoff=Backoff(initial=0.2, cap=1.0, stable_after=5.0))
    sub = c.subscribe("auth0")
    assert sub.wait_subscribed(10)
    accepted = proxy.accepted
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # the server keeps closing every connection with 4200
        proxy.close_all(4200)
        time.sleep(0.02)
    assert proxy.accepted - accepted <= 8


def test_4100_backs_off_at_least_a_second(backend, proxy, clients):
    c = client_for(proxy.settings(backend), clients, backoff=Backoff(initial=0.01, min_backoff_delay=1.0))
    sub = c.subscribe("auth0")
    assert sub.wait_subscribed(10)
    old = c.socket_id
    started = time.monotonic()
    proxy.close_all(4100)
    wait_for(lambda: c.is_subscribed("auth0") and c.socket_id != old, 5)
    assert time.monotonic() - started >= 1.0


def test_4000_range_stops_with_a_clear_error(backend, proxy, clients):
    c = client_for(proxy.settings(backend), clients)
    sub = c.subscribe("auth0")
    assert sub.wait_subscribed(10)
    backend.trigger("auth0", "user-loggedIn", {"last": 1})
    wait_for(lambda: sub.stats.received == 1, 5)
    proxy.close_all(4009)
    assert next_data(sub).data == {"last": 1}  # buffered events are still delivered first
    with pytest.raises(ConnectionRejected) as info:
        sub.get(5)
    assert "4009" in str(info.value) and info.value.code == 4009
    time.sleep(0.3)
    assert c.reconnects == 0 and proxy.client_count == 0
    assert c.state == "failed"


def test_unknown_app_key_is_rejected_by_the_server(backend, clients):
    settings = backend.settings()
    wrong = type(settings).from_url(f"http://nope:{SECRET}@127.0.0.1:{backend.port}/apps/1")
    c = client_for(wrong, clients)
    sub = c.subscribe("auth0")
    with pytest.raises(ConnectionRejected) as info:
        sub.get(10)
    assert "400" in str(info.value) and c.reconnects == 0


def test_a_dropped_connection_recovers(backend, proxy, clients):
    c = client_for(proxy.settings(backend), clients, user={"id": "u"})
    sub = c.subscribe("presence-chat")
    assert sub.wait_subscribed(10)
    assert proxy.drop_all() == 1
    assert wait_for(lambda: c.reconnects == 1 and c.is_subscribed("presence-chat"), 5)
    backend.trigger("presence-chat", "message-added", {"x": 1})
    assert next_data(sub).data == {"x": 1}


def test_a_dead_link_is_detected_by_ping_and_pong_timeout(backend, proxy, clients):
    c = client_for(proxy.settings(backend), clients, activity_timeout=0.3, pong_timeout=1.0, connect_timeout=1.0)
    sub = c.subscribe("auth0")
    assert sub.wait_subscribed(10)
    assert c.connection.effective_activity_timeout == 0.3
    time.sleep(1.2)  # idle for several activity timeouts, but pings are answered: no reconnect
    assert c.reconnects == 0
    proxy.freeze(True)
    wait_for(lambda: c.reconnects >= 1, 5)
    proxy.freeze(False)
    assert sub.wait_subscribed(10)
    backend.trigger("auth0", "after-freeze", {"ok": 1})
    assert next_data(sub).data == {"ok": 1}


def test_activity_timeout_is_the_minimum_of_client_and_server(backend, clients):
    c = client_for(backend.settings(), clients)
    sub = c.subscribe("auth0")
    assert sub.wait_subscribed(10)
    server_timeout = 30.0 if backend.name == "soketi" else 120.0
    assert c.connection.effective_activity_timeout == min(120.0, server_timeout)


# ---------------------------------------------------------------------------------------- auth endpoint
class AuthEndpoint:
    """A real HTTP auth endpoint (pusher-js conventions) that requires a bearer token."""

    def __init__(self, port: int, token: str = "t0ken") -> None:
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self.send_response(403)
                    self.end_headers()
                    return
                endpoint.requests += 1
                if self.path.endswith("user-auth"):
                    body = authenticate_user(KEY, SECRET, form["socket_id"], {"id": "eve"})
                else:
                    channel = form["channel_name"]
                    data = json.dumps({"user_id": "eve"}) if channel.startswith("presence-") else None
                    body = authorize_channel(
                        KEY, SECRET, form["socket_id"], channel, channel_data=data, encryption_master_key=MASTER_KEY
                    )
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.requests = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_auth_endpoint_down_is_reported_and_retried(backend, clients):
    port = free_port()
    url = f"http://127.0.0.1:{port}/pusher/auth"
    auth = EndpointAuthorizer(url, {"Authorization": "Bearer t0ken"})
    c = client_for(backend.settings(), clients, authorizer=auth, signin=True, user={"id": "eve"})
    sub = c.subscribe("private-auth0-events", "presence-chat", "private-encrypted-x")
    wait_for(lambda: len(sub.errors) >= 2, 5)
    error = sub.errors[0]
    assert isinstance(error, AuthorizationError)
    assert str(error).startswith(f"The auth endpoint http://127.0.0.1:{port}/") and "could not be reached" in str(error)
    assert not c.is_subscribed("private-auth0-events")
    endpoint = AuthEndpoint(port)
    try:
        assert sub.wait_subscribed(15), list(sub.errors)
        assert wait_for(c.signed_in.is_set, 10)
        assert sub.members() == {"eve": None}
        backend.trigger("private-encrypted-x", "e", {"ok": 1})
        assert next_data(sub).data == {"ok": 1}
        assert sub.stats.auth_failures >= 2
    finally:
        endpoint.close()


def test_auth_endpoint_refusal_names_the_token(backend, clients):
    port = free_port()
    endpoint = AuthEndpoint(port)
    try:
        auth = EndpointAuthorizer(f"http://127.0.0.1:{port}/pusher/auth", {"Authorization": "Bearer wrong"})
        c = client_for(backend.settings(), clients, authorizer=auth)
        sub = c.subscribe("private-auth0-events")
        wait_for(lambda: sub.errors, 5)
        assert "HTTP 403" in str(sub.errors[0]) and "PUSHER_AUTH_TOKEN" in str(sub.errors[0])
        assert endpoint.requests == 0
    finally:
        endpoint.close()


# ---------------------------------------------------------------------------------------- consumers
def test_a_slow_consumer_loses_the_oldest_counted_and_memory_stays_bounded(backend, clients):
    c = client_for(backend.settings(), clients)
    sub = c.subscribe("auth0", maxsize=50)
    slow = threading.Event()
    seen: list[int] = []

    def consume(event):
        seen.append(event.data["i"])
        slow.wait(0.005)

    sub.on_event(consume)
    assert sub.wait_subscribed(10)
    total = 1000
    api = backend.api
    for start in range(0, total, 10):
        api.trigger_batch([{"channel": "auth0", "name": "e", "data": {"i": i}} for i in range(start, start + 10)])
    wait_for(lambda: sub.stats.received == total, 10)
    wait_for(lambda: sub.stats.backlog == 0, 10)
    stats = sub.stats
    assert stats.dropped > 0 and stats.high_water <= 50
    assert stats.delivered + stats.dropped == total == len(seen) + stats.dropped
    assert seen == sorted(seen) and seen[-1] == total - 1  # the newest survive, in order


def test_close_really_stops_and_joins_every_thread(backend, clients):
    before = {t.ident for t in threading.enumerate()}
    c = LiveClient(backend.settings(), user={"id": "x"}, signin=True)
    sub = c.subscribe("presence-chat", "#server-to-user-x")
    sub.on_event(lambda e: None)
    assert sub.wait_subscribed(10)
    assert len(live_threads()) == 3  # websocket, tasks, consumer
    assert c.close(timeout=5)
    assert live_threads() == []
    assert {t.ident for t in threading.enumerate()} <= before
    with pytest.raises(Exception):
        c.subscribe("auth0")


def test_wrong_master_key_is_reported_not_crashing(backend, clients):
    wrong = SecretAuthorizer(KEY, SECRET, bytes(32))  # not the key the server side encrypts with
    c = client_for(backend.settings(), clients, authorizer=wrong)
    sub = c.subscribe("private-encrypted-notes", "auth0")
    assert sub.wait_subscribed(10)
    backend.trigger("private-encrypted-notes", "note", {"secret": 1})
    backend.trigger("auth0", "user-loggedIn", {"after": 1})
    assert next_data(sub).data == {"after": 1}  # the stream goes on
    assert sub.stats.decrypt_failures == 1
    assert "could not be decrypted" in str(sub.errors[-1]) and "PUSHER_ENCRYPTION_MASTER_KEY" in str(sub.errors[-1])


def test_no_log_record_per_message_even_at_debug(backend, clients, caplog):
    import logging

    c = client_for(backend.settings(), clients)
    sub = c.subscribe("auth0")
    assert sub.wait_subscribed(10)
    with caplog.at_level(logging.DEBUG):
        backend.api.trigger_batch([{"channel": "auth0", "name": "e", "data": {"i": i}} for i in range(10)])
        for _ in range(10):
            next_data(sub)
    noisy = [r for r in caplog.records if r.name.startswith(("pysher", "authviz.live", "websocket"))]
    assert noisy == []


def test_auth_endpoint_from_settings_is_used(backend, clients):
    port = free_port()
    endpoint = AuthEndpoint(port)
    try:
        settings = backend.settings(
            auth_endpoint=f"http://127.0.0.1:{port}/pusher/auth",
            auth_headers={"Authorization": "Bearer t0ken"},
            secret="",
        )
        c = client_for(settings, clients, user={"id": "eve"}, signin=True)
        assert isinstance(c.authorizer, EndpointAuthorizer)
        sub = c.subscribe("presence-chat")
        assert sub.wait_subscribed(10) and wait_for(c.signed_in.is_set, 5)
        assert endpoint.requests >= 2
    finally:
        endpoint.close()


def test_a_refused_subscription_is_reported_and_retried_while_the_connection_stays(backend, clients):
    wrong = SecretAuthorizer(KEY, "not-the-secret", MASTER_KEY)
    c = client_for(backend.settings(), clients, authorizer=wrong)
    sub = c.subscribe("private-auth0-events", "auth0")
    wait_for(lambda: sub.stats.auth_failures >= 2, 10)  # refused, retried, refused again
    assert all(isinstance(e, AuthorizationError) for e in sub.errors)
    assert "private-auth0-events" in str(sub.errors[0]) and str(sub.errors[0]).startswith("The server refused")
    assert c.reconnects == 0 and c.state == "connected" and c.is_subscribed("auth0")
    backend.trigger("auth0", "user-loggedIn", {"still": "here"})
    assert next_data(sub).data == {"still": "here"}


def test_an_unreachable_server_is_reported_once_per_outage(clients):
    from authviz.config import PusherSettings

    port = free_port()
    c = client_for(
        PusherSettings(key=KEY, host="127.0.0.1", port=port), clients, backoff=Backoff(initial=0.05, cap=0.1)
    )
    sub = c.subscribe("auth0")
    wait_for(lambda: c.reconnects >= 5, 5)
    assert len(sub.errors) == 1
    message = str(sub.errors[0])
    assert c.connection._failure_reported
    assert message == (
        f"Could not connect to the Pusher server at 127.0.0.1:{port} (Connection refused); retrying with back-off."
    )


def test_tls_connection_with_large_messages(backend, clients, tmp_path, monkeypatch):
    """wss through a TLS-terminating proxy: the chunked reader works on an SSL socket, across
    TLS records (a message larger than one 16 KB record) and verifies the certificate."""
    proxy = FaultProxy(backend.port, tls_dir=tmp_path)
    try:
        monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", str(proxy.ca_file))
        settings = proxy.settings(backend)
        assert settings.tls and settings.ws_url.startswith("wss://127.0.0.1:")
        c = client_for(settings, clients, user={"id": "tls"})
        sub = c.subscribe("private-auth0-events", "presence-chat")
        assert sub.wait_subscribed(10), list(sub.errors)
        big = {"blob": "x" * 9000}
        backend.api.trigger_batch(
            [{"channel": "private-auth0-events", "name": "e", "data": {"i": i, **big}} for i in range(5)]
        )
        got = [next_data(sub).data for _ in range(5)]
        assert [d["i"] for d in got] == list(range(5)) and all(d["blob"] == big["blob"] for d in got)
        proxy.close_all(4200)
        assert wait_for(lambda: c.reconnects == 1 and sub.wait_subscribed(5), 10)
        monkeypatch.delenv("WEBSOCKET_CLIENT_CA_BUNDLE")  # an untrusted certificate is refused
        untrusted = client_for(settings, clients, backoff=Backoff(initial=5.0))
        sub = untrusted.subscribe("auth0")
        wait_for(lambda: sub.errors, 10)
        assert "presented a TLS certificate this client does not trust" in str(sub.errors[0]), sub.errors[0]
        assert not untrusted.is_subscribed("auth0")
    finally:
        proxy.close()
