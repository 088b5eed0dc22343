"""Presence webhook debounce: Pusher's "if a user disconnects and then reconnects within 3
seconds, neither event will be delivered via webhook".

The pure core first (time passed in), then the real thing: the hub on loopback, a real webhook
receiver (aiohttp), websocket clients (the live client, websocket-client) that really disconnect.
"""

from __future__ import annotations

import json
import time

import orjson
import pytest

from authviz.config import PusherSettings
from authviz.hub import running_hub
from authviz.live import Backoff, LiveClient
from authviz.pusher.protocol import App, Broadcast, Hub, Webhook
from authviz.pusher.signing import authorize_channel
from hub_support import APP_ID, KEY, SECRET, RawClient, WebhookReceiver, wait_for

pytestmark = pytest.mark.timeout(60)

P = "presence-room"


# --- the pure core --------------------------------------------------------------------------------


def make_hub(debounce: float = 3.0) -> Hub:
    return Hub([App(APP_ID, KEY, SECRET, webhook_url="http://127.0.0.1:1/hook", webhook_debounce=debounce)])


def connect(hub: Hub, now: float):
    conn, _, code, _ = hub.connect(KEY, "7", now)
    assert code is None
    return conn


def join(hub: Hub, conn, user: str, now: float, channel: str = P):
    data = {"channel": channel}
    if channel.startswith("presence-"):
        data.update(authorize_channel(KEY, SECRET, conn.socket_id, channel, channel_data=json.dumps({"user_id": user})))
    return hub.receive(conn, json.dumps({"event": "pusher:subscribe", "data": data}), now)


def hooks(actions) -> list[tuple[str, str | None]]:
    return [(a.event["name"], a.event.get("user_id")) for a in actions if isinstance(a, Webhook)]


def member_events(actions, conn) -> list[str]:
    """The websocket member_added/removed messages ``conn`` is sent."""
    return [orjson.loads(a.payload)["event"] for a in actions if isinstance(a, Broadcast) and conn in a.conns]


def test_a_quick_return_cancels_removed_and_added_but_not_the_websocket_events():
    hub = make_hub(3.0)
    b, a = connect(hub, 0), connect(hub, 0)
    assert hooks(join(hub, b, "b", 0)) == [("channel_occupied", None), ("member_added", "b")]
    assert hooks(join(hub, a, "a", 0)) == [("member_added", "a")]
    left = hub.disconnect(a, 10.0)
    assert hooks(left) == []  # held
    assert member_events(left, b) == ["pusher_internal:member_removed"]  # websocket: at once
    assert hooks(hub.tick(12.9)) == []
    a2 = connect(hub, 12.9)
    back = join(hub, a2, "a", 12.9)
    assert hooks(back) == []  # the return cancels both webhooks
    assert member_events(back, b) == ["pusher_internal:member_added"]
    assert hooks(hub.tick(100)) == [] and not hub.apps[APP_ID].held


def test_a_return_after_the_debounce_delivers_both_in_order():
    hub = make_hub(3.0)
    a = connect(hub, 0)
    join(hub, a, "a", 0)
    assert hooks(hub.disconnect(a, 5.0)) == []
    assert hooks(hub.tick(7.9)) == []
    assert hooks(hub.tick(8.0)) == [("member_removed", "a"), ("channel_vacated", None)]
    a2 = connect(hub, 9)
    assert hooks(join(hub, a2, "a", 9)) == [("channel_occupied", None), ("member_added", "a")]


def test_due_events_go_first_when_the_user_returns_before_the_next_tick():
    hub = make_hub(1.0)
    a = connect(hub, 0)
    join(hub, a, "a", 0)
    hub.disconnect(a, 1.0)
    a2 = connect(hub, 2.5)  # due at 2.0, no tick in between
    assert hooks(join(hub, a2, "a", 2.5)) == [
        ("member_removed", "a"),
        ("channel_vacated", None),
        ("channel_occupied", None),
        ("member_added", "a"),
    ]


def test_someone_else_keeps_the_channel_occupied_but_the_first_user_is_removed():
    hub = make_hub(2.0)
    a, b = connect(hub, 0), connect(hub, 0)
    join(hub, a, "a", 0)
    hub.disconnect(a, 1.0)  # the channel is empty: vacated held
    assert hooks(join(hub, b, "b", 1.5)) == [("member_added", "b")]  # no occupied
    assert hooks(hub.tick(3.0)) == [("member_removed", "a")]  # no vacated: b is there
    hub.receive(b, json.dumps({"event": "pusher:unsubscribe", "data": {"channel": P}}), 4.0)
    assert hooks(hub.tick(5.9)) == []
    assert hooks(hub.tick(6.0)) == [("member_removed", "b"), ("channel_vacated", None)]


def test_a_second_connection_of_the_user_is_one_member():
    hub = make_hub(2.0)
    a1, a2 = connect(hub, 0), connect(hub, 0)
    join(hub, a1, "a", 0)
    assert hooks(join(hub, a2, "a", 0)) == []
    assert hooks(hub.disconnect(a1, 1.0)) == []
    assert hooks(hub.tick(10)) == []  # still a member through a2: nothing held
    hub.disconnect(a2, 11.0)
    assert hooks(hub.tick(13.0)) == [("member_removed", "a"), ("channel_vacated", None)]


def test_other_channels_and_a_zero_debounce_are_not_delayed():
    hub = make_hub(3.0)
    a = connect(hub, 0)
    join(hub, a, "", 0, channel="lobby")
    assert hooks(hub.disconnect(a, 1.0)) == [("channel_vacated", None)]
    hub0 = make_hub(0)
    c = connect(hub0, 0)
    join(hub0, c, "c", 0)
    assert hooks(hub0.disconnect(c, 1.0)) == [("member_removed", "c"), ("channel_vacated", None)]


def test_shutdown_sends_what_is_held():
    hub = make_hub(3.0)
    a, b = connect(hub, 0), connect(hub, 0)
    join(hub, a, "a", 0)
    join(hub, b, "b", 0)
    hub.disconnect(a, 1.0)
    assert hooks(hub.close_all(4100, "bye")) == [
        ("member_removed", "a"),
        ("member_removed", "b"),
        ("channel_vacated", None),
    ]


def test_debounce_is_validated():
    for bad in (-1, "3", True, 10_000):
        with pytest.raises(ValueError, match="webhook_debounce"):
            App(APP_ID, KEY, SECRET, webhook_debounce=bad)


# --- over loopback --------------------------------------------------------------------------------


def presence_client(h, user: str) -> RawClient:
    c = RawClient(h)
    c.established()
    msg = c.subscribe(P, authorize_channel(KEY, SECRET, c.socket_id, P, channel_data=json.dumps({"user_id": user})))
    assert msg["event"] == "pusher_internal:subscription_succeeded", msg
    return c


def test_webhooks_of_a_short_absence_are_debounced_over_loopback():
    """debounce 0.2 s: a user away 0.5 s is reported (after >= 0.2 s), one back at once is not."""
    with (
        WebhookReceiver() as receiver,
        running_hub(
            APP_ID,
            KEY,
            SECRET,
            webhook_url=receiver.url,
            webhook_debounce=0.2,
            tick_interval=0.02,
            webhook_options={"batch_interval": 0.01},
        ) as h,
    ):
        b = presence_client(h, "b")
        a = presence_client(h, "a")
        wait_for(lambda: receiver.names(user_id="a") == ["member_added"])
        # a blip: away and back within the debounce
        a.close()
        assert b.recv_event("pusher_internal:member_removed")["channel"] == P
        a = presence_client(h, "a")
        assert b.recv_event("pusher_internal:member_added")["channel"] == P
        time.sleep(0.6)  # three debounce periods, many ticks
        assert receiver.names(user_id="a") == ["member_added"]
        # a real absence: reported once the debounce has passed
        left = time.monotonic()
        a.close()
        wait_for(lambda: receiver.names(user_id="a") == ["member_added", "member_removed"])
        removed_at = next(t for t, e in receiver.events if e["name"] == "member_removed" and e["user_id"] == "a")
        assert removed_at - left >= 0.2
        # the last member leaves: removed and vacated come together, in that order
        b.close()
        wait_for(lambda: "channel_vacated" in receiver.names(channel=P))
        assert receiver.names(channel=P)[-2:] == ["member_removed", "channel_vacated"]
        assert receiver.names(channel=P) == [
            "channel_occupied",
            "member_added",
            "member_added",
            "member_removed",
            "member_removed",
            "channel_vacated",
        ]
        assert receiver.rejected == 0


def test_a_live_client_that_reconnects_quickly_causes_no_webhooks():
    """The live client loses its connection and comes back (fresh auth, new socket_id) within
    the debounce: the webhook receiver hears nothing; the other member saw the blip."""
    debounce = 1.5
    with (
        WebhookReceiver() as receiver,
        running_hub(
            APP_ID,
            KEY,
            SECRET,
            webhook_url=receiver.url,
            webhook_debounce=debounce,
            tick_interval=0.05,
            webhook_options={"batch_interval": 0.01},
        ) as h,
    ):
        observer = presence_client(h, "observer")
        settings = PusherSettings.from_url(h.pusher_url)
        client = LiveClient(settings, user={"id": "a"}, backoff=Backoff(initial=0.05, cap=0.2, stable_after=1.0))
        try:
            sub = client.subscribe(P)
            assert sub.wait_subscribed(10)
            wait_for(lambda: receiver.names(user_id="a") == ["member_added"])
            first_socket = client.socket_id
            dropped = time.monotonic()
            client.connection.drop()
            assert observer.recv_event("pusher_internal:member_removed")["channel"] == P
            assert observer.recv_event("pusher_internal:member_added")["channel"] == P
            back = time.monotonic() - dropped
            assert client.socket_id != first_socket
            assert back < debounce, f"the reconnect took {back:.2f} s (machine overloaded?)"
            time.sleep(debounce + 0.5)
            assert receiver.names(user_id="a") == ["member_added"]
        finally:
            assert client.close()
        wait_for(lambda: receiver.names(user_id="a") == ["member_added", "member_removed"], timeout=debounce + 5)
        observer.close()
