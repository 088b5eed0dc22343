"""Cache channels are bounded: at most ``App.max_cache_channels`` last events per app (the least
recently written is evicted), and each expires after ``cache_ttl``.

The pure core, then the hub over loopback: the `pusher` library publishes, a websocket client
subscribes and gets the last event or ``pusher:cache_miss``.
"""

from __future__ import annotations

import json
import time

import orjson
import pusher
import pytest

from authviz.hub import running_hub
from authviz.pusher.protocol import App, Hub, Send, Webhook
from hub_support import APP_ID, KEY, SECRET, RawClient, wait_for

pytestmark = pytest.mark.timeout(60)


def first_message_on_subscribe(hub: Hub, channel: str, now: float) -> tuple[dict, list]:
    conn, *_ = hub.connect(KEY, "7", now)
    actions = hub.receive(conn, json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}), now)
    sent = [orjson.loads(a.payload) for a in actions if isinstance(a, Send)]
    assert sent[0]["event"] == "pusher_internal:subscription_succeeded"
    hub.disconnect(conn, now)
    return sent[1], [a.event for a in actions if isinstance(a, Webhook)]


def test_the_least_recently_written_entry_is_evicted():
    hub = Hub([App(APP_ID, KEY, SECRET, max_cache_channels=3, cache_ttl=100, webhook_url="http://127.0.0.1:1/hook")])
    state = hub.apps[APP_ID]
    for i, name in enumerate(["cache-a", "cache-b", "cache-c"]):
        state.trigger([name], "e", f"v{i}", now=i)
    state.trigger(["cache-a"], "e", "a2", now=3)  # rewritten: now the most recent
    state.trigger(["cache-d"], "e", "d", now=4)  # over the limit: cache-b goes
    assert list(state.cache) == ["cache-c", "cache-a", "cache-d"]
    msg, hooks = first_message_on_subscribe(hub, "cache-b", 5)
    assert msg == {"event": "pusher:cache_miss", "channel": "cache-b", "data": "{}"}
    assert {"name": "cache_miss", "channel": "cache-b"} in hooks
    assert first_message_on_subscribe(hub, "cache-a", 5)[0]["data"] == "a2"
    assert first_message_on_subscribe(hub, "cache-c", 5)[0]["data"] == "v2"
    assert "cache" not in state.channel_info("cache-b", 5)
    assert state.channel_info("cache-d", 5)["cache"] == {"data": "d", "ttl": 99}
    # many writes never grow it past the limit
    for i in range(1000):
        state.trigger([f"cache-n{i}"], "e", "x", now=6)
    assert len(state.cache) == 3 and list(state.cache) == [f"cache-n{i}" for i in (997, 998, 999)]


def test_entries_expire_after_the_ttl_and_ticks_forget_them():
    hub = Hub([App(APP_ID, KEY, SECRET, cache_ttl=10)])
    state = hub.apps[APP_ID]
    state.trigger(["cache-a"], "e", "old", now=0)
    state.trigger(["cache-b"], "e", "new", now=5)
    hub.tick(10)  # cache-a expired at 10, cache-b lives until 15
    assert list(state.cache) == ["cache-b"]
    assert first_message_on_subscribe(hub, "cache-a", 10)[0]["event"] == "pusher:cache_miss"
    assert first_message_on_subscribe(hub, "cache-b", 14.9)[0]["data"] == "new"
    # an expired entry not yet ticked away is a miss too
    assert first_message_on_subscribe(hub, "cache-b", 15)[0]["event"] == "pusher:cache_miss"


def test_max_cache_channels_is_validated():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_cache_channels"):
            App(APP_ID, KEY, SECRET, max_cache_channels=bad)


def subscribe_first(h, channel: str) -> dict:
    c = RawClient(h)
    try:
        c.established()
        assert c.subscribe(channel)["event"] == "pusher_internal:subscription_succeeded"
        return c.recv()
    finally:
        c.close()


def test_eviction_and_expiry_over_loopback():
    with running_hub(APP_ID, KEY, SECRET, max_cache_channels=2, cache_ttl=0.5, tick_interval=0.05) as h:
        lib = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=h.port, ssl=False)
        lib.trigger("cache-one", "e", {"n": 1})
        lib.trigger("cache-two", "e", {"n": 2})
        lib.trigger("cache-three", "e", {"n": 3})  # evicts cache-one
        assert subscribe_first(h, "cache-one") == {"event": "pusher:cache_miss", "data": "{}", "channel": "cache-one"}
        got = subscribe_first(h, "cache-three")
        assert got["event"] == "e" and json.loads(got["data"]) == {"n": 3}
        info = lib.channel_info("cache-two", ["cache"])
        assert json.loads(info["cache"]["data"]) == {"n": 2}
        assert h.call(lambda: len(h.server.hub.apps[APP_ID].cache)) == 2
        time.sleep(0.5)
        wait_for(lambda: h.call(lambda: not h.server.hub.apps[APP_ID].cache), timeout=2)
        assert subscribe_first(h, "cache-three")["event"] == "pusher:cache_miss"
