"""Pure parts of authviz.live: close-code policy, back-off, the hand-over buffer, event decoding."""

from __future__ import annotations

import random
import threading
import time

import pytest

from authviz.live import Backoff, CloseAction, EventBuffer, LiveEvent, close_action


@pytest.mark.parametrize(
    "code, action",
    [
        (4000, CloseAction.STOP),
        (4001, CloseAction.STOP),
        (4099, CloseAction.STOP),
        (4100, CloseAction.BACKOFF),
        (4199, CloseAction.BACKOFF),
        (4200, CloseAction.RECONNECT),
        (4201, CloseAction.RECONNECT),
        (4299, CloseAction.RECONNECT),
        (4301, CloseAction.BACKOFF),
        (1000, CloseAction.BACKOFF),
        (1006, CloseAction.BACKOFF),
        (None, CloseAction.BACKOFF),
    ],
)
def test_close_codes(code, action):
    assert close_action(code) is action


def test_backoff_grows_with_jitter_up_to_the_cap():
    b = Backoff(initial=0.1, factor=2, cap=1.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(10)]
    for n, d in enumerate(delays):
        ceiling = min(1.0, 0.1 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 1.0 and len(set(delays)) == len(delays)


def test_4200_reconnects_at_once_only_when_no_failure_is_pending():
    b = Backoff(initial=0.2, rng=random.Random(2))
    assert b.next_delay_for(4200) == 0.0
    # the new connection closed again at once: no reset, so the next 4200 waits
    b.connection_lived(0.01)
    assert b.next_delay_for(4200) >= 0.2
    # a stable connection resets the counter
    b.connection_lived(b.stable_after)
    assert b.next_delay_for(4200) == 0.0


def test_4100_waits_at_least_the_minimum():
    b = Backoff(initial=0.01, min_backoff_delay=1.0)
    assert b.next_delay_for(4100) >= 1.0
    assert b.next_delay_for(None) < 1.0


def test_reconnect_storm_is_impossible():
    """A server that closes every connection with 4200: attempts in 3 s of simulated time stay few."""
    b = Backoff(rng=random.Random(3))
    elapsed, attempts = 0.0, 0
    while elapsed < 3.0:
        elapsed += b.next_delay_for(4200) + 0.001
        b.connection_lived(0.001)
        attempts += 1
    assert attempts <= 8


def _event(i: int) -> LiveEvent:
    return LiveEvent("c", "e", {"i": i}, "", time.time())


def test_drop_oldest_keeps_the_newest_and_counts():
    buf = EventBuffer(3, "drop_oldest")
    for i in range(5):
        buf.put(_event(i))
    assert buf.dropped == 2 and len(buf) == 3
    assert [buf.get(0)[1].data["i"] for _ in range(3)] == [2, 3, 4]


def test_drop_newest_keeps_the_oldest_and_counts():
    buf = EventBuffer(3, "drop_newest")
    results = [buf.put(_event(i)) for i in range(5)]
    assert results == [True, True, True, False, False] and buf.dropped == 2
    assert [buf.get(0)[1].data["i"] for _ in range(3)] == [0, 1, 2]


def test_block_waits_for_room_and_loses_nothing():
    buf = EventBuffer(2, "block")
    got = []

    def consume():
        for _ in range(6):
            got.append(buf.get(5)[1].data["i"])
            time.sleep(0.01)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(6):
        buf.put(_event(i))
    t.join(5)
    assert got == list(range(6)) and buf.dropped == 0 and buf.high_water <= 2


def test_control_items_come_first_and_are_not_pushed_out_by_data():
    buf = EventBuffer(2)
    for i in range(10):
        buf.put(_event(i))
    buf.put_control("hello")
    assert buf.get(0) == ("control", "hello")
    assert buf.get(0)[0] == "data"


def test_get_times_out_and_close_wakes_waiters():
    buf = EventBuffer(2)
    start = time.monotonic()
    assert buf.get(0.1) is None and time.monotonic() - start >= 0.09
    threading.Timer(0.1, buf.close).start()
    assert buf.get(5) is None


@pytest.mark.parametrize("bad", [dict(maxsize=0), dict(overflow="sometimes")])
def test_buffer_rejects_bad_limits(bad):
    with pytest.raises(ValueError):
        EventBuffer(**bad)


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"sent_at": 1_700_000_000.5}, 1_700_000_000.5),
        ({"timestamp": "2023-11-14T22:13:20Z"}, 1_700_000_000.0),
        ({"date": 1_700_000_000_000}, 1_700_000_000.0),
        ({"data": {"date": "2023-11-14T22:13:20.000Z"}}, 1_700_000_000.0),
        ({"nothing": 1}, None),
        ("text", None),
    ],
)
def test_event_timestamp(data, expected):
    assert LiveEvent("c", "e", data, "", 0.0).timestamp == expected


@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest", "block"])
def test_concurrent_hand_over_accounts_for_every_item_in_order(overflow):
    """A producer racing a consumer: every item is delivered or counted as dropped, in order."""
    total = 50_000
    buf = EventBuffer(64, overflow)
    got: list[int] = []

    def consume():
        while True:
            item = buf.get(2)
            if item is None:
                return
            got.append(item[1])

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(total):
        buf.put(i)
    buf.close()
    consumer.join(10)
    assert not consumer.is_alive()
    assert len(got) + buf.dropped == total
    assert got == sorted(got) and len(set(got)) == len(got)
    assert buf.high_water <= 64
    if overflow == "block":
        assert buf.dropped == 0 and got == list(range(total))


@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest", "block"])
@pytest.mark.parametrize("sizes", [[3], [2, 2], [5], [1, 4, 2], [3, 3, 3]])
def test_put_many_is_put_one_by_one(overflow, sizes):
    """A batch hand-over keeps exactly what single puts keep, with the same counters."""
    if overflow == "block" and sum(sizes) > 3:
        sizes = [min(s, 3) for s in sizes][:1]  # block with nobody consuming would wait forever
    one, many = EventBuffer(3, overflow), EventBuffer(3, overflow)
    n = 0
    for size in sizes:
        items = list(range(n, n + size))
        n += size
        for item in items:
            one.put(item)
        many.put_many(items)
    assert (many.accepted, many.dropped, many.high_water) == (one.accepted, one.dropped, one.high_water)
    drain = lambda buf: [got[1] for got in iter(lambda: buf.get(0), None)]  # noqa: E731
    assert drain(many) == drain(one)


def test_put_many_wakes_a_waiting_consumer_once_with_everything():
    buf = EventBuffer(100)
    got: list[int] = []
    ready = threading.Event()

    def consume():
        ready.set()
        while len(got) < 10:
            item = buf.get(5)
            if item is None:
                return
            got.append(item[1])

    t = threading.Thread(target=consume)
    t.start()
    ready.wait(5)
    time.sleep(0.05)  # the consumer is asleep in get()
    buf.put_many(list(range(10)))
    t.join(5)
    assert got == list(range(10))


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple] = []


def test_connection_hands_over_a_read_in_order_around_connection_messages():
    """Channel messages of one read go in runs; a connection message in between stays in place."""
    import orjson

    from authviz.live.transport import Transport

    rec = _Recorder()
    conn = Transport(
        "ws://127.0.0.1:9/app/k",
        on_channel_event=lambda *a: rec.seen.append(("one",) + a[:3]),
        on_channel_events=lambda msgs: rec.seen.append(("run", [(m["event"], m["channel"]) for m in msgs])),
    )
    conn.bind("pusher:pong", lambda data: rec.seen.append(("pong",)))
    payloads = [
        orjson.dumps(m)
        for m in (
            {"event": "a", "channel": "x", "data": "1"},
            {"event": "b", "channel": "y", "data": "2"},
            {"event": "pusher:pong", "data": "{}"},
            {"event": "c", "channel": "x", "data": "3"},
        )
    ] + [b"not json", b'{"no_event": 1}', b"[1, 2]"]
    conn._on_messages(payloads)
    assert rec.seen == [("run", [("a", "x"), ("b", "y")]), ("pong",), ("run", [("c", "x")])]
    assert conn.bad_messages == 3


def test_a_stream_with_a_sink_hands_events_over_and_buffers_none():
    from authviz.live import EventStream

    taken: list[str] = []

    def sink(event: LiveEvent) -> None:
        if event.name == "boom":
            raise RuntimeError("consumer bug")
        taken.append(event.name)

    stream = EventStream(events=["a", "boom"], maxsize=2, sink=sink)
    stream.offer(LiveEvent("c", "a", {}, "{}", 0.0))
    stream.offer_many([LiveEvent("c", name, {}, "{}", 0.0) for name in ("a", "skipped", "boom", "a", "a")])
    assert taken == ["a", "a", "a", "a"]  # none dropped: the sink's queue bounds them, not the stream's
    stats = stream.stats
    assert (stats.received, stats.backlog, stats.dropped, stats.callback_errors) == (5, 0, 0, 1)
    assert isinstance(stream.errors[-1], RuntimeError)
    stream.close()
