"""The hub runs on uvloop by default and on asyncio's loop when asked, with the same behaviour."""

from __future__ import annotations

import asyncio
import json

import pusher
import pytest

from authviz.hub import running_hub
from authviz.hub.loop import EVENT_LOOP_ENV, event_loop_kind, new_event_loop, run
from hub_support import APP_ID, KEY, SECRET, RawClient

uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")


def test_uvloop_is_the_default(monkeypatch):
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert event_loop_kind() == "uvloop"
    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_the_standard_loop_on_request(monkeypatch):
    monkeypatch.setenv(EVENT_LOOP_ENV, "asyncio")
    assert event_loop_kind() == "asyncio"
    loop = new_event_loop()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


def test_run_returns_the_coroutine_result(monkeypatch):
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)

    async def main() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    assert run(main()).startswith("uvloop")


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_hub_delivers_a_batch_in_order_on_either_loop(monkeypatch, kind):
    """A batch of events for one channel reaches every subscriber whole and in order."""
    monkeypatch.setenv(EVENT_LOOP_ENV, kind)
    with running_hub(APP_ID, KEY, SECRET) as hub:
        loop_type = hub.call(lambda: type(asyncio.get_running_loop()).__module__)
        assert loop_type.startswith("uvloop" if kind == "uvloop" else "asyncio")
        clients = [RawClient(hub) for _ in range(3)]
        try:
            for c in clients:
                c.established()
                assert c.subscribe("feed")["event"] == "pusher_internal:subscription_succeeded"
            lib = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=hub.port, ssl=False)
            lib.trigger_batch([{"channel": "feed", "name": "n", "data": json.dumps({"i": i})} for i in range(10)])
            for c in clients:
                got = [json.loads(c.recv_event("n")["data"])["i"] for _ in range(10)]
                assert got == list(range(10))
        finally:
            for c in clients:
                c.close()
