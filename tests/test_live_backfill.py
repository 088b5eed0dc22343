"""Gap-free backfill: the live client against the real hub with the bridge mounted.

Real parts only: the bridge's webhook and SQLite history (``bridge_hub``), the live client over a
real websocket through :class:`FaultProxy` (which drops or refuses the client's connections), and a
small real HTTP proxy in front of the history that can hold or fail requests.
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request

import pytest

from authviz.config import PusherSettings
from authviz.live import Backoff, HistoryClient, HistoryError, LiveClient
from authviz.live.history import parse_page
from authviz.topics import AUTH_EVENT, EVENTS_CHANNEL
from bridge_support import APP_ID, KEY, LOG_TOKEN, SECRET, bridge_hub, post_logs, record
from live_support import FaultProxy, clients, wait_for  # noqa: F401 - clients: fixture

pytestmark = pytest.mark.timeout(90)

FAST = dict(initial=0.05, cap=0.5, stable_after=1.0)


class HistoryGate:
    """A real HTTP proxy in front of the bridge's history: ``mode`` is forward, hold or fail (503).

    ``hold`` holds the requests from number ``hold_after`` on (0: all) until ``released``;
    ``without_head`` answers 404 to ``/head``, as a bridge from before that route does.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "forward"
        self.hold_after = 0
        self.without_head = False
        self.released = threading.Event()
        self.requests: list[str] = []
        self.held = threading.Event()  # set once a request waits at the gate
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                number = len(gate.requests)
                gate.requests.append(self.path)
                if gate.without_head and self.path.split("?")[0].endswith("/head"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if gate.mode == "fail":
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if gate.mode == "hold" and number >= gate.hold_after:
                    gate.held.set()
                    gate.released.wait(30)
                request = urllib.request.Request(
                    gate.upstream + self.path, headers={"Authorization": self.headers.get("Authorization", "")}
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        status, body = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, body = error.code, error.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/auth0/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def hub(tmp_path):
    with bridge_hub(tmp_path) as running:
        yield running


@pytest.fixture
def proxy(hub):
    p = FaultProxy(hub.port)
    yield p
    p.close()


def initial_backfill_done(client: LiveClient) -> None:
    """Wait until the first backfill run (the head read, then the history after it) has finished.

    ``pending_from`` is also None before that run starts, and an event stored before the head is
    read counts as "before the client".
    """
    assert wait_for(
        lambda: (
            client.backfill.last_seq is not None
            and client.backfill.pending_from is None
            and not client.backfill._scheduled
        ),
        10,
    )


def make_client(clients, port: int, history_url: str, **options) -> LiveClient:
    settings = PusherSettings(key=KEY, secret=SECRET, app_id=APP_ID, host="127.0.0.1", port=port)
    client = LiveClient(settings, backoff=Backoff(**FAST), history_url=history_url, history_token=LOG_TOKEN, **options)
    clients.append(client)
    return client


def post(hub, numbers, prefix: str = "900") -> list[str]:
    records = [record(n, "s" if n % 3 else "f", user_id=f"auth0|u{n}", prefix=prefix) for n in numbers]
    status, body = post_logs(hub.url, records)
    assert status == 200 and body["stored"] == len(records), body
    return [r["log_id"] for r in records]


def collect(sub, count: int, timeout: float = 20.0) -> list[dict]:
    """Events until ``count`` arrived (or ``timeout``), then 0.5 s more to catch any duplicate."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        event = sub.get(0.2)
        if event is not None:
            got.append(event.data)
    while (event := sub.get(0.5)) is not None:
        got.append(event.data)
    return got


def assert_once_in_order(got: list[dict], expected_ids: list[str]) -> None:
    ids = [e["event_id"] for e in got]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"
    assert set(ids) == set(expected_ids), f"missing {sorted(set(expected_ids) - set(ids))[:5]}"
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs), "not in seq order"


def test_events_posted_while_disconnected_arrive_once_and_in_order(hub, proxy, clients):
    client = make_client(clients, proxy.port, hub.url + "/auth0/events")
    sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
    assert sub.wait_subscribed(10)
    initial_backfill_done(client)
    ids = post(hub, range(1, 6))
    assert_once_in_order(collect(sub, 5), ids)

    proxy.refuse(True)
    proxy.drop_all()
    wait_for(lambda: not client.is_subscribed(EVENTS_CHANNEL), 5)
    ids += post(hub, range(6, 16))  # nobody is connected: only the history has these
    hub.drain()
    proxy.refuse(False)
    assert sub.wait_subscribed(10)
    ids += post(hub, range(16, 21))

    got = collect(sub, 15)
    assert_once_in_order(got, ids[5:])
    assert client.backfill.backfilled >= 10
    assert client.reconnects >= 1 and sub.stats.dropped == 0
    assert not sub.errors


def test_continuous_posting_across_repeated_drops_is_exactly_once_in_seq_order(hub, proxy, clients):
    client = make_client(clients, proxy.port, hub.url + "/auth0/events")
    sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
    assert sub.wait_subscribed(10)
    initial_backfill_done(client)
    posted: list[str] = []
    done = threading.Event()

    def poster() -> None:
        for n in range(120):
            posted.extend(post(hub, [n], prefix="901"))
            time.sleep(0.01)
        done.set()

    thread = threading.Thread(target=poster)
    thread.start()
    try:
        for _ in range(3):  # drops overlap posting, resubscription and the backfill itself
            time.sleep(0.3)
            proxy.drop_all()
            wait_for(lambda: client.reconnects > 0 and sub.wait_subscribed(0.01), 10)
    finally:
        thread.join(30)
    assert done.is_set()
    got = collect(sub, 120)
    assert_once_in_order(got, posted)
    assert client.reconnects >= 3
    assert client.backfill.backfilled > 0  # at least one gap was filled from the history


def test_an_event_seen_live_and_in_the_history_is_delivered_once(hub, clients):
    early = post(hub, [1])  # before the client exists: only history_after=0 brings it
    gate = HistoryGate(hub.url)
    try:
        gate.mode = "hold"
        client = make_client(clients, hub.port, gate.url, history_after=0)
        sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
        assert sub.wait_subscribed(10)
        gate.held.wait(10)  # the first backfill waits at the gate...
        live = post(hub, [2, 3, 4])  # ...while these arrive live (and are held back, for order)
        hub.drain()
        assert sub.get(0.5) is None
        gate.released.set()  # the history now holds 1..4: 2..4 come both ways
        got = collect(sub, 4)
        assert [e["event_id"] for e in got] == early + live
        assert client.backfill.duplicates == 3 and client.backfill.backfilled == 4
    finally:
        gate.close()


def test_a_failing_history_is_reported_once_live_events_flow_and_the_gap_fills_later(hub, clients):
    early = post(hub, [1])
    gate = HistoryGate(hub.url)
    try:
        gate.mode = "fail"
        client = make_client(
            clients, hub.port, gate.url, history_after=0, history_backoff=Backoff(initial=0.05, cap=0.2)
        )
        sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
        assert sub.wait_subscribed(10)
        live = post(hub, [2, 3])
        first = collect(sub, 2, timeout=10)
        assert [e["event_id"] for e in first] == live  # live delivery does not wait for the history
        wait_for(lambda: len(gate.requests) >= 4, 10)  # retried with back-off...
        errors = [e for e in sub.errors if isinstance(e, HistoryError)]
        assert len(errors) == 1 and "HTTP 503" in str(errors[0])  # ...reported once
        gate.mode = "forward"
        late = collect(sub, 1, timeout=10)
        assert [e["event_id"] for e in late] == early  # the gap, late but once (2, 3 not again)
        assert client.connected.is_set() and client.is_subscribed(EVENTS_CHANNEL)
        assert len([e for e in sub.errors if isinstance(e, HistoryError)]) == 1
    finally:
        gate.close()


def test_history_client_finds_the_head_and_refuses_bad_pages(hub):
    history = HistoryClient(hub.url + "/auth0/events", {"Authorization": f"Bearer {LOG_TOKEN}"}, page_size=7)
    assert history.head() == 0
    post(hub, range(1, 24))
    page = history.fetch(0)
    assert len(page.events) == 7 and page.more and page.last_seq == page.events[-1]["seq"]
    before = history.requests
    assert history.head() == 23 and history.requests == before + 1  # one request
    assert history.head_endpoint is True
    with pytest.raises(HistoryError, match="HTTP 401"):
        HistoryClient(hub.url + "/auth0/events").fetch(0)
    with pytest.raises(HistoryError, match="expected"):
        parse_page(b'{"events": [1], "last_seq": 1, "more": false}', "http://x/auth0/events")
    with pytest.raises(HistoryError, match="could not be reached"):
        HistoryClient("http://127.0.0.1:9/auth0/events", timeout=1).fetch(0)


def test_settings_derive_the_history_url():
    base = dict(key="k", host="127.0.0.1", port=6001)
    assert PusherSettings(**base).history_endpoint is None
    s = PusherSettings(
        **base, auth_endpoint="https://bridge.example:8443/pusher/auth", auth_headers={"Authorization": "Bearer jwt"}
    )
    assert s.history_endpoint == "https://bridge.example:8443/auth0/events"
    assert s.history_headers == {"Authorization": "Bearer jwt"}
    s = PusherSettings.from_env(
        {"PUSHER_URL": "http://k:s@127.0.0.1:6001/apps/1", "AUTHVIZ_HISTORY_TOKEN": "tok"}, dotenv_path=None
    )
    assert s.history_endpoint == "http://127.0.0.1:6001/auth0/events"
    assert s.history_headers == {"Authorization": "Bearer tok"} and "tok" not in repr(s)
    s = PusherSettings.from_env(
        {"PUSHER_URL": "http://k:s@127.0.0.1:6001/apps/1", "AUTHVIZ_HISTORY_URL": "http://127.0.0.1:7000/auth0/events"},
        dotenv_path=None,
    )
    assert s.history_endpoint == "http://127.0.0.1:7000/auth0/events"
    from authviz.errors import ConfigError

    with pytest.raises(ConfigError, match="AUTHVIZ_HISTORY_URL"):
        PusherSettings(**base, history_url="ftp://x/auth0/events")


def test_tail_backfills_from_the_settings_across_a_dropped_connection(hub, proxy):
    """``authviz tail --json`` configured only by the environment (AUTHVIZ_HISTORY_URL/TOKEN)."""
    import json
    import os
    import queue
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "AUTHVIZ_"))}
    env.update(
        PUSHER_URL=f"http://{KEY}:{SECRET}@127.0.0.1:{proxy.port}/apps/{APP_ID}",
        AUTHVIZ_HISTORY_URL=hub.url + "/auth0/events",
        AUTHVIZ_HISTORY_TOKEN=LOG_TOKEN,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "tail", "--channel", EVENTS_CHANNEL, "--json", "--no-alerts"],
        cwd=hub.args.state_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def read(count: int) -> list[dict]:
        out = [json.loads(lines.get(timeout=20))["data"] for _ in range(count)]
        try:
            extra = lines.get(timeout=0.5)
            raise AssertionError(f"unexpected line {extra}")
        except queue.Empty:
            return out

    try:
        subscribed = lambda: EVENTS_CHANNEL in hub.channels()  # noqa: E731
        wait_for(subscribed, 20)
        ids = post(hub, range(1, 4))
        assert_once_in_order(read(3), ids)
        proxy.refuse(True)
        proxy.drop_all()
        wait_for(lambda: proxy.client_count == 0, 5)
        missed = post(hub, range(4, 9))
        hub.drain()
        assert not subscribed()
        proxy.refuse(False)
        assert_once_in_order(read(5), missed)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_no_history_at_the_url_is_reported_once_and_backfill_stops(hub, clients):
    client = make_client(clients, hub.port, hub.url + "/no-such-history", history_after=0)
    sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
    assert sub.wait_subscribed(10)
    wait_for(lambda: not client.backfill.enabled, 10)
    ids = post(hub, [1, 2])
    assert [e["event_id"] for e in collect(sub, 2, timeout=10)] == ids  # live events still flow
    errors = [e for e in sub.errors if isinstance(e, HistoryError)]
    assert len(errors) == 1 and "HTTP 404" in str(errors[0]) and "AUTHVIZ_HISTORY_URL" in str(errors[0])
    assert client.backfill.failures == 1


def test_constructor_token_alone_derives_the_url_and_a_bad_url_is_one_sentence(clients):
    from authviz.errors import ConfigError

    settings = PusherSettings(key=KEY, secret=SECRET, host="127.0.0.1", port=6001)
    client = LiveClient(settings, history_token="tok")
    clients.append(client)
    assert client.backfill is not None and client.backfill.history.url == "http://127.0.0.1:6001/auth0/events"
    assert client.backfill.history.headers == {"Authorization": "Bearer tok"}
    without = LiveClient(settings)
    clients.append(without)
    assert without.backfill is None
    with pytest.raises(ConfigError, match="AUTHVIZ_HISTORY_URL must be an http"):
        LiveClient(settings, history_url="127.0.0.1:6001/auth0/events")


def test_a_drop_before_any_event_was_delivered_still_backfills_the_gap(hub, proxy, clients):
    post(hub, range(1, 4), prefix="902")  # history before the client: not wanted (history_after=None)
    client = make_client(clients, proxy.port, hub.url + "/auth0/events")
    sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
    assert sub.wait_subscribed(10)
    initial_backfill_done(client)
    proxy.refuse(True)
    proxy.drop_all()
    wait_for(lambda: not client.is_subscribed(EVENTS_CHANNEL), 5)
    missed = post(hub, range(4, 7), prefix="902")
    hub.drain()
    proxy.refuse(False)
    assert sub.wait_subscribed(10)
    got = collect(sub, 3)
    assert [e["event_id"] for e in got] == missed


def test_an_event_stored_after_the_head_read_and_missed_live_comes_from_the_history(hub, proxy, clients):
    """The race of the first subscription, made deterministic with the history gate.

    The client subscribes, then learns the head in ONE request; the gate answers that request and
    holds the next one. Meanwhile the connection drops and an event is stored: it was never
    delivered live, and it is after the head, so the history must bring it. (With the former head
    search, the held request was part of the search, whose answer then included this event:
    it counted as "before the client" and was lost.)
    """
    post(hub, range(1, 6), prefix="903")  # before the client: not wanted
    gate = HistoryGate(hub.url)
    try:
        gate.mode, gate.hold_after = "hold", 1
        client = make_client(clients, proxy.port, gate.url)
        sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
        assert sub.wait_subscribed(10)
        assert gate.held.wait(10)  # the head was answered; the next history request waits
        assert gate.requests[0].startswith("/auth0/events/head") and len(gate.requests) == 2
        proxy.refuse(True)
        proxy.drop_all()
        wait_for(lambda: not client.is_subscribed(EVENTS_CHANNEL), 5)
        missed = post(hub, [6], prefix="903")  # stored after the head read, nobody connected
        hub.drain()
        proxy.refuse(False)
        assert sub.wait_subscribed(10)
        gate.released.set()
        got = collect(sub, 1)
        assert [e["event_id"] for e in got] == missed
        assert client.backfill.backfilled == 1 and not sub.errors
        later = post(hub, [7], prefix="903")  # and live delivery goes on, once
        assert [e["event_id"] for e in collect(sub, 1)] == later
    finally:
        gate.close()


def test_an_older_bridge_without_the_head_route_is_searched(hub):
    post(hub, range(1, 12), prefix="904")
    gate = HistoryGate(hub.url)
    try:
        gate.without_head = True
        history = HistoryClient(gate.url, {"Authorization": f"Bearer {LOG_TOKEN}"})
        assert history.head() == 11 and history.head_endpoint is False
        asked = len(gate.requests)
        assert history.head() == 11  # searched again, without asking for /head
        assert not any(path.split("?")[0].endswith("/head") for path in gate.requests[asked:])
        assert history.requests > 3
    finally:
        gate.close()
