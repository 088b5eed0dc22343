"""authviz on a real soketi cluster: two soketi 1.6.1 nodes joined by Redis, the bridge publishing
to one (or both) through the Pusher HTTP API, live clients on either node.

Real parts only: Debian's ``redis-server``, soketi under Node, the bridge (``standalone_app``, the
code of ``authviz bridge``) with its SQLite store, live clients over real websockets reading the
bridge's real history. Nodes are killed with SIGKILL. Checks: every stored event reaches every
client once and in ``seq`` order, whichever node dies.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from authviz.config import PusherSettings
from authviz.live import Backoff, LiveClient
from authviz.topics import AUTH_EVENT, EVENTS_CHANNEL
from bridge_support import http, post_logs, record
from cluster_support import LOG_TOKEN, BridgeThread, RedisServer, redis_missing_reason
from live_support import APP_ID, KEY, SECRET, SoketiServer, clients, node_missing_reason, wait_for  # noqa: F401

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(node_missing_reason() is not None, reason=str(node_missing_reason())),
    pytest.mark.skipif(redis_missing_reason() is not None, reason=str(redis_missing_reason())),
]

FAST = dict(initial=0.1, cap=1.0, stable_after=1.0)


@pytest.fixture(scope="module")
def redis():
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture
def nodes(redis, request):
    """Two soketi nodes of one cluster (a fresh Redis prefix per test)."""
    prefix = f"authviz-{request.node.name[:40]}"
    made = []
    try:
        for _ in range(2):
            made.append(SoketiServer(redis_port=redis.port, redis_prefix=prefix))
        yield made
    finally:
        for node in made:
            node.close()


@pytest.fixture
def bridge_factory(tmp_path):
    made: list[BridgeThread] = []

    def make(*targets: SoketiServer, **attributes) -> BridgeThread:
        bridge = BridgeThread(tmp_path / "state", [t.pusher_url for t in targets], **attributes).start()
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        bridge.stop()


def tail(clients, node: SoketiServer, bridge: BridgeThread, **options) -> tuple[LiveClient, object]:
    """A live client on ``node`` subscribed to the event channel, with the bridge's history."""
    settings = PusherSettings(key=KEY, secret=SECRET, app_id=APP_ID, host="127.0.0.1", port=node.port)
    options = {"history_check": 1.0, "reorder_delay": 0.5, **options}
    client = LiveClient(
        settings,
        backoff=Backoff(**FAST),
        history_url=bridge.history_url,
        history_token=LOG_TOKEN,
        history_backoff=Backoff(initial=0.1, cap=1.0),
        **options,
    )
    clients.append(client)
    sub = client.subscribe(EVENTS_CHANNEL, events=[AUTH_EVENT])
    assert sub.wait_subscribed(20)
    assert wait_for(lambda: client.backfill.last_seq is not None and not client.backfill._scheduled, 20)
    return client, sub


class Poster:
    """Posts ``count`` events to the bridge's log-stream webhook, ``per_request`` at a time."""

    def __init__(
        self, bridge: BridgeThread, count: int, *, per_request: int = 10, pause: float = 0.02, prefix: str = "777"
    ) -> None:
        self.bridge = bridge
        self.count = count
        self.per_request = per_request
        self.pause = pause
        self.prefix = prefix
        self.posted: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for start in range(0, self.count, self.per_request):
            records = [
                record(n, "s", user_id=f"auth0|u{n}", prefix=self.prefix)
                for n in range(start, min(self.count, start + self.per_request))
            ]
            status, body = post_logs(self.bridge.url, records, token=LOG_TOKEN)
            assert status == 200 and body["stored"] == len(records), body
            self.posted.extend(r["log_id"] for r in records)
            time.sleep(self.pause)

    def start(self) -> Poster:
        self.thread.start()
        return self

    def wait_posted(self, n: int, timeout: float = 30.0) -> None:
        assert wait_for(lambda: len(self.posted) >= n, timeout)

    def join(self, timeout: float = 60.0) -> list[str]:
        self.thread.join(timeout)
        assert not self.thread.is_alive()
        return self.posted


def collect(sub, count: int, timeout: float = 60.0) -> list[dict]:
    """Events until ``count`` arrived (or ``timeout``), then 1 s more to catch any duplicate."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        event = sub.get(0.2)
        if event is not None:
            got.append(event.data)
    while (event := sub.get(1.0)) is not None:
        got.append(event.data)
    return got


def assert_once_in_order(got: list[dict], expected: list[str]) -> None:
    ids = [e["event_id"] for e in got]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"
    missing = sorted(set(expected) - set(ids))
    assert not missing, f"{len(missing)} missing, e.g. {missing[:3]}"
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs), "not in seq order"


def test_events_published_on_one_node_reach_clients_on_the_other_once_and_in_order(nodes, bridge_factory, clients):
    a, b = nodes
    bridge = bridge_factory(a)
    _, on_b = tail(clients, b, bridge)
    _, on_a = tail(clients, a, bridge)
    posted = Poster(bridge, 300, pause=0.0).start().join()
    assert_once_in_order(collect(on_b, 300), posted)
    assert_once_in_order(collect(on_a, 300), posted)
    status = bridge.status()
    assert status["behind"] == 0 and status["failed"] == 0 and status["published_seq"] == status["stored_seq"]


def test_presence_members_are_seen_across_nodes(nodes, clients):
    a, b = nodes
    channel = "presence-cluster-room"
    members = []
    for node, user in ((a, "ada"), (b, "grace")):
        settings = PusherSettings(key=KEY, secret=SECRET, app_id=APP_ID, host="127.0.0.1", port=node.port)
        client = LiveClient(
            settings, user={"id": user, "user_info": {"name": user.title()}}, backoff=Backoff(**FAST), backfill=False
        )
        clients.append(client)
        sub = client.subscribe(channel)
        assert sub.wait_subscribed(20)
        members.append(client)
    for client in members:
        assert wait_for(lambda: set(client.members(channel)) == {"ada", "grace"}, 20), client.members(channel)
    assert members[0].members(channel)["grace"] == {"name": "Grace"}


def test_the_publishing_node_killed_mid_stream_loses_nothing(nodes, bridge_factory, clients):
    """The issue's silent loss: the bridge keeps the events while its only node is down (and
    says so in its status), the client on the other node, whose connection never broke, gets
    every event once and in order, and so does the client on the killed node after it is back."""
    a, b = nodes
    bridge = bridge_factory(a)
    _, on_b = tail(clients, b, bridge)
    client_a, on_a = tail(clients, a, bridge)
    poster = Poster(bridge, 400, pause=0.03).start()
    poster.wait_posted(100)
    a.kill()
    poster.wait_posted(250)
    assert wait_for(lambda: bridge.status()["failing_since"] is not None, 10)
    # what an operator sees: how far behind publishing is, since when, and why
    code, body, _ = http("GET", bridge.url + "/auth0/listeners", headers={"Authorization": LOG_TOKEN})
    status = json.loads(body)["publishing"]
    assert code == 502  # the channel list cannot be read from a dead node
    assert status["behind"] > 0 and status["behind_since"] and status["failing_since"]
    assert str(a.port) in status["last_error"] and SECRET not in body.decode()
    time.sleep(1.0)
    a.start()
    posted = poster.join()
    assert_once_in_order(collect(on_b, len(posted)), posted)
    assert_once_in_order(collect(on_a, len(posted)), posted)
    assert client_a.reconnects >= 1
    assert wait_for(lambda: bridge.status()["behind"] == 0, 20)
    status = bridge.status()
    assert status["failing_since"] is None and status["failed"] == 0 and status["retries"] >= 1


def test_with_both_nodes_as_targets_the_bridge_fails_over(nodes, bridge_factory, clients):
    a, b = nodes
    bridge = bridge_factory(a, b)
    _, on_b = tail(clients, b, bridge, history_check=None)  # only the live path: no head checks
    poster = Poster(bridge, 300, pause=0.02).start()
    poster.wait_posted(100)
    a.kill()
    posted = poster.join()
    got = collect(on_b, len(posted))
    assert_once_in_order(got, posted)
    assert bridge.call(lambda: bridge.bridge.queue.publisher.failovers) >= 1
    assert bridge.status()["target"] == f"http://127.0.0.1:{b.port}"  # and it stays there
    assert bridge.status()["behind"] == 0


def test_a_clients_node_killed_and_restarted_loses_nothing(nodes, bridge_factory, clients):
    a, b = nodes
    bridge = bridge_factory(a)
    client_b, on_b = tail(clients, b, bridge)
    poster = Poster(bridge, 400, pause=0.03).start()
    poster.wait_posted(100)
    b.kill()
    poster.wait_posted(250)
    b.start()
    posted = poster.join()
    assert_once_in_order(collect(on_b, len(posted)), posted)
    assert client_b.reconnects >= 1 and client_b.backfill.backfilled > 0


def test_a_bridge_restarted_during_an_outage_publishes_what_it_kept(nodes, bridge_factory, clients):
    """Across restarts of either side: events stored while the node was down, then the bridge
    stopped, then the node back and the bridge started again on the same store."""
    a, b = nodes
    bridge = bridge_factory(a)
    _, on_b = tail(clients, b, bridge, history_check=None)  # only what the bridge publishes
    first = Poster(bridge, 50, pause=0.0).start().join()
    assert_once_in_order(collect(on_b, 50, timeout=20), first)
    a.kill()
    kept = Poster(bridge, 50, pause=0.0, prefix="778").start().join()
    assert wait_for(lambda: bridge.status()["behind"] == 50, 10)
    bridge.stop()
    a.start()
    bridge.start()
    assert_once_in_order(collect(on_b, 50, timeout=30), kept)
    assert wait_for(lambda: bridge.status()["behind"] == 0, 10)
