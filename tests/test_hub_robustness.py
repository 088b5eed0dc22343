"""Robustness of the hub: bad input, floods, a client that never reads, churn, shutdown."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import threading
import time

import aiohttp
import psutil
import pytest
import websocket

from authviz.hub import running_hub
from hub_support import APP_ID, KEY, SECRET, RawClient, wait_for


@pytest.fixture(scope="module")
def hub():
    with running_hub(APP_ID, KEY, SECRET, max_channels_per_connection=100, tick_interval=0.1) as h:
        yield h


BAD_TEXT = [
    "",
    "not json",
    "[1,2]",
    "42",
    "null",
    '{"event": 3}',
    '{"no": "event"}',
    '{"event": "pusher:subscribe", "data": "not-an-object"}',
    '{"event": "pusher:subscribe", "data": {"channel": "bad channel name!"}}',
    '{"event": "pusher:subscribe", "data": {"channel": "' + "c" * 500 + '"}}',
    '{"event": "pusher:subscribe", "data": {"channel": "#server-to-user-x"}}',
    '{"event": "pusher:signin", "data": 5}',
    '{"event": "unknown-event"}',
    '{"event": "pusher:whatever"}',
    '{"event": "client-x", "channel": "nope"}',
    '{"event": "pusher:subscribe", "data": {"channel": ["list"]}}',
    "{" * 10000,
]


def test_malformed_frames_get_errors_and_the_connection_survives(hub):
    c = RawClient(hub)
    c.established()
    for text in BAD_TEXT:
        c.ws.send(text)
        msg = c.recv()
        assert msg["event"] == "pusher:error", (text, msg)
        assert isinstance(msg["data"]["message"], str)
    c.ws.send_binary(b"\x00\x01binary")
    assert c.recv()["event"] == "pusher:error"
    c.ws.send(b"\xff\xfe not utf-8", opcode=websocket.ABNF.OPCODE_TEXT)
    # invalid UTF-8 in a text frame is a websocket protocol error: aiohttp closes (1007)
    assert c.wait_close() in (1007, 1002, None)
    ok = RawClient(hub)
    ok.established()
    ok.send("pusher:ping")
    assert ok.recv()["event"] == "pusher:pong"
    ok.close()


def test_oversized_message_closes_1009(hub):
    c = RawClient(hub)
    c.established()
    c.send("client-big", "x" * (hub.server.max_message_bytes + 1), "private-x")
    assert c.wait_close() == 1009
    wait_for(lambda: hub.connection_count() == 0)


def test_subscribe_flood_is_bounded(hub):
    c = RawClient(hub)
    c.established()
    for i in range(1000):
        c.send("pusher:subscribe", {"channel": f"flood-{i}"})
    replies = [c.recv() for _ in range(1000)]
    ok = sum(r["event"] == "pusher_internal:subscription_succeeded" for r in replies)
    assert ok == 100
    assert all(r["event"] == "pusher:error" for r in replies[100:])
    assert len(hub.channels("flood-")) == 100
    c.close()
    wait_for(lambda: not hub.channels("flood-"))


def test_client_that_never_reads_is_dropped_and_others_keep_receiving():
    with running_hub(APP_ID, KEY, SECRET, send_buffer_bytes=256 * 1024) as h:
        slow = websocket.create_connection(
            f"{h.ws_url}/app/{KEY}?protocol=7", timeout=5, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
        )
        json.loads(slow.recv())
        slow.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "firehose"}}))
        json.loads(slow.recv())
        good = RawClient(h)
        good.established()
        good.subscribe("firehose")
        received = []

        def read():
            try:
                while len(received) < 600:
                    received.append(good.recv())
            except Exception:  # noqa: BLE001 - reported by the assertion below
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        payload = "x" * 8000
        t0 = time.monotonic()
        for i in range(600):  # ~4.8 MB: far beyond what the slow socket's buffers hold
            h.trigger("firehose", "blob", f"{i}:{payload}")
            if i % 20 == 19:  # pace the producer to the reading client (same process, one GIL)
                wait_for(lambda i=i: len(received) >= i - 40, timeout=10)
        reader.join(30)
        assert len(received) == 600, len(received)
        assert [int(m["data"].split(":")[0]) for m in received] == list(range(600))
        assert time.monotonic() - t0 < 30
        assert h.call(lambda: h.server.slow_drops) == 1
        assert h.channels("firehose") == {"firehose": 1}
        good.close()
        slow.close()


def test_dead_connection_closed_4201():
    with running_hub(APP_ID, KEY, SECRET, activity_timeout=1, pong_timeout=0.5, tick_interval=0.1) as h:
        c = RawClient(h)
        c.established()
        assert c.recv()["event"] == "pusher:ping"  # after 1 s of silence
        assert c.wait_close() == 4201  # no pong within 0.5 s
        ok = RawClient(h)
        ok.established()
        assert ok.recv()["event"] == "pusher:ping"
        ok.send("pusher:pong")
        time.sleep(0.8)
        ok.send("pusher:ping")
        assert ok.recv_event("pusher:pong")  # still open (a server ping may come first)
        ok.close()
        # websocket-level pings are answered and count as activity too
        pinger = RawClient(h)
        pinger.established()
        for _ in range(8):  # 2 s, longer than activity_timeout + pong_timeout
            pinger.ws.ping(b"hi")
            opcode, data = pinger.ws.recv_data(control_frame=True)
            while opcode == websocket.ABNF.OPCODE_TEXT:  # a pusher:ping may come first
                opcode, data = pinger.ws.recv_data(control_frame=True)
            assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"hi")
            time.sleep(0.25)
        pinger.send("pusher:ping")
        assert pinger.recv_event("pusher:pong")
        pinger.close()


@pytest.mark.slow
def test_two_thousand_connect_disconnect_cycles_do_not_grow_tasks_or_memory(hub):
    url = f"{hub.ws_url}/app/{KEY}?protocol=7"
    process = psutil.Process()

    def hub_tasks() -> int:
        return hub.call(lambda: len(asyncio.all_tasks()))

    async def cycles(n: int) -> None:
        async with aiohttp.ClientSession() as session:
            for i in range(n):
                async with session.ws_connect(url) as ws:
                    msg = await ws.receive_json(timeout=5)
                    assert msg["event"] == "pusher:connection_established"
                    await ws.send_json({"event": "pusher:subscribe", "data": {"channel": f"churn-{i % 7}"}})
                    assert (await ws.receive_json(timeout=5))["event"].endswith("succeeded")

    asyncio.run(cycles(200))  # warm up caches and pools
    wait_for(lambda: hub.connection_count() == 0)
    gc.collect()
    tasks_before, rss_before = hub_tasks(), process.memory_info().rss
    t0 = time.monotonic()
    asyncio.run(cycles(2000))
    elapsed = time.monotonic() - t0
    wait_for(lambda: hub.connection_count() == 0)
    wait_for(lambda: hub_tasks() <= tasks_before)
    gc.collect()
    growth = process.memory_info().rss - rss_before
    assert hub.channels("churn-") == {}
    assert growth < 8 * 1024 * 1024, f"RSS grew {growth / 1e6:.1f} MB over 2000 cycles"
    assert elapsed < 60


def test_shutdown_closes_clients_with_4100_and_restart_serves_again():
    h = running_hub(APP_ID, KEY, SECRET)
    port = h.port
    clients = [RawClient(h) for _ in range(3)]
    for c in clients:
        c.established()
    threads = threading.active_count()
    h.stop()
    for c in clients:
        err = c.recv()
        assert err["event"] == "pusher:error" and err["data"]["code"] == 4100
        assert c.wait_close() == 4100  # 4100: reconnect after a back-off, not at once
    assert threading.active_count() == threads - 1  # the hub thread was joined
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    h.restart()
    assert h.port == port
    c = RawClient(h)
    c.established()
    c.close()
    h.stop()
