"""The pump: one writer, every item applied once, bounded comm traffic, the kernel's loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from authviz.widgets import CountryChart, LiveFeed, Pump, SessionEvents
from authviz.widgets.commcount import counting_comms
from widgets_support import event


class Recorder:
    """A minimal LiveWidget that records what it got and on which thread."""

    def __init__(self, topics=("auth",)):
        self.topics = frozenset(topics)
        self.items: list = []
        self.threads: set[str] = set()
        self.refreshes = 0

    def consume(self, items):
        self.threads.add(threading.current_thread().name)
        self.items.extend(items)

    def refresh(self, now):
        self.refreshes += 1
        return True


def test_every_item_from_many_threads_is_applied_exactly_once():
    pump = Pump(hz=20)
    rec = Recorder(("t",))
    pump.add(rec)

    def produce(base):
        for i in range(2000):
            pump.submit(base + i, topic="t")

    producers = [threading.Thread(target=produce, args=(k * 10_000,)) for k in range(4)]
    pump.start(mode="thread")
    for t in producers:
        t.start()
    for t in producers:
        t.join(timeout=10)
    assert pump.wait_until(lambda: len(rec.items) == 8000, timeout=10)
    pump.stop()
    assert sorted(rec.items) == sorted(k * 10_000 + i for k in range(4) for i in range(2000))
    assert rec.threads <= {"authviz-pump", threading.current_thread().name}
    assert pump.stats()["dropped"] == 0 and pump.stats()["applied"] == 8000


def test_widgets_receive_only_their_topics():
    pump = Pump()
    auth, chat = Recorder(("auth",)), Recorder(("chat",))
    pump.add(auth, chat)
    pump.submit(event("signup", n=1))
    pump.submit("c1", topic="chat")
    pump.submit({"category": "login_success", "email": "b@example.com"})
    assert pump.tick() == 3
    assert chat.items == ["c1"]
    # auth events reach widgets normalised once, as FeedRecords
    assert [(r.category, r.who) for r in auth.items] == [
        ("signup", "user1@example.com"),
        ("login_success", "b@example.com"),
    ]


def test_buffer_overflow_drops_oldest_and_counts():
    pump = Pump(max_pending=3)
    for i in range(5):
        pump.submit(i, topic="chat")
    assert pump.dropped == 2 and pump.submitted == 5
    assert [item for _, item in pump.buffer.drain()] == [2, 3, 4]
    assert pump.buffer.drain() == []
    with pytest.raises(ValueError, match="max_pending"):
        Pump(max_pending=0)


def test_hz_out_of_range_is_refused():
    with pytest.raises(ValueError, match="hz must be between"):
        Pump(hz=100)


def test_asyncio_mode_applies_on_the_loop_thread_never_the_producer():
    rec = Recorder(("t",))

    async def main():
        pump = Pump(hz=10)
        pump.add(rec)
        pump.start()  # auto: a loop runs in this thread
        assert pump.mode == "asyncio"
        producer = threading.Thread(target=lambda: [pump.submit(i, "t") for i in range(500)], name="websocket")
        producer.start()
        producer.join()
        for _ in range(50):
            if len(rec.items) == 500:
                break
            await asyncio.sleep(0.05)
        pump.stop()
        return pump

    pump = asyncio.run(main())
    assert len(rec.items) == 500
    assert rec.threads == {"MainThread"}
    assert not pump.running


def test_comm_traffic_stays_bounded_whatever_the_event_rate():
    """~20,000 events/s for 2 s into every widget: comm messages stay <= 20/s."""
    with counting_comms() as counter:
        pump = Pump(hz=4)
        feed, chart, session = LiveFeed(), CountryChart(), SessionEvents()
        pump.add(feed, chart, session)
        counter.reset()
        stop = threading.Event()
        sent = [0]
        cats = ["login_success", "signup", "login_failure", "logout", "blocked", "password_change"]

        def produce():
            n = 0
            while not stop.is_set():
                pump.submit_many(event(cats[i % len(cats)], n=n + i) for i in range(200))
                n += 200
                time.sleep(0.01)
            sent[0] = n

        pump.start(mode="thread")
        producer = threading.Thread(target=produce)
        start = time.monotonic()
        producer.start()
        time.sleep(2.0)
        stop.set()
        producer.join(timeout=5)
        pump.stop(final_tick=False)
        elapsed = time.monotonic() - start
        rate = counter.messages / elapsed
        assert sent[0] > 10_000
        assert counter.messages > 0
        assert rate <= 20, f"{counter.messages} comm messages in {elapsed:.1f}s"
        pump.tick(force=True)
        assert feed.total == sent[0] == chart.total
