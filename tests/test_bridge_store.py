"""The durable store, the ingest rules and the publishing rules (no network)."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from authviz.bridge.ingest import BodyRefused, prepare
from authviz.bridge.policy import ChannelPolicy
from authviz.bridge.publications import feed_payload, publications_for, signin_user_id
from authviz.bridge.store import EventStore, NewReject
from authviz.topics import (
    AUTH_EVENT,
    EVENTS_CHANNEL,
    FEED_CHANNEL,
    LOGGED_IN_EVENT,
    SESSION_EVENT,
    SIGNED_UP_EVENT,
    user_channel,
)

from bridge_support import record


def lines(*records: dict) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records)


async def test_batches_are_idempotent_by_log_id_and_seq_only_grows(tmp_path):
    async with EventStore(tmp_path / "s.db") as store:
        first = prepare(lines(record(1), record(2)))
        result = await store.add_batch(first.events, first.rejects)
        assert [e.seq for e in result.stored] == [1, 2] and result.duplicates == 0
        again = await store.add_batch(prepare(lines(record(2), record(3))).events)
        assert [e.log_id for e in again.stored] == [record(3)["log_id"]]
        # seq strictly grows (an ignored duplicate may leave a gap: it is a cursor, not a count)
        third = again.stored[0].seq
        assert again.duplicates == 1 and third > 2
        rows = await store.events_after(1, 10)
        assert [r.seq for r in rows] == [2, third]
        assert rows[0].to_json_dict()["raw"] == record(2)  # raw kept exactly, as a JSON object
        assert await store.last_seq() == third
        assert (await store.counts())["events"] == 3


async def test_durability_pragmas_are_wal_and_full(tmp_path):
    async with EventStore(tmp_path / "s.db"):
        conn = sqlite3.connect(tmp_path / "s.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
    store = EventStore(tmp_path / "s.db")
    store.open_sync()
    assert store._write_conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close_sync()


async def test_rejects_are_quarantined_with_their_reason_in_the_same_transaction(tmp_path):
    ingest = prepare(lines(record(1)) + b"\n{not json\n" + orjson.dumps({"hello": 1}))
    assert len(ingest.events) == 1 and len(ingest.rejects) == 2
    async with EventStore(tmp_path / "s.db") as store:
        result = await store.add_batch(ingest.events, ingest.rejects)
        assert result.quarantined == 2
        kept = await store.quarantine()
        assert {q["raw"] for q in kept} == {"{not json", '{"hello":1}'}
        assert all(q["reason"].startswith("record ") for q in kept)


def test_bodies_without_any_event_are_refused():
    for body in (b"", b"  \n", b"{not json", b'[{"a": 1}]'):
        with pytest.raises(BodyRefused):
            prepare(body)


async def test_a_failed_transaction_writes_nothing(tmp_path):
    async with EventStore(tmp_path / "s.db") as store:
        good = prepare(lines(record(1))).events
        bad_reject = NewReject(1, "reason", None)  # type: ignore[arg-type]  # NOT NULL raw
        with pytest.raises(Exception):
            await store.add_batch(good, [bad_reject])
        assert (await store.counts())["events"] == 0


async def test_chat_text_is_stored_raw(tmp_path):
    async with EventStore(tmp_path / "s.db") as store:
        html = '<img src=x onerror="alert(1)"> & </script>'
        message = await store.add_chat_message("auth0|a", "A", None, html)
        assert (await store.chat_messages())[0].text == html == message.text


async def test_publications_follow_the_tutorial_and_session_rules(tmp_path):
    async with EventStore(tmp_path / "s.db") as store:
        records = [
            record(1, "s"),
            record(2, "ss"),
            record(3, "slo"),
            record(4, "f"),
            record(5, "limit_wc"),
            record(6, "scp", user_id=None),
        ]
        result = await store.add_batch(prepare(lines(*records)).events)
    pubs = publications_for(result.stored)
    from authviz.bridge.publications import feed_drafts

    # the feed built beforehand (while the store commits) publishes exactly the same
    assert publications_for(result.stored, feeds=feed_drafts(prepare(lines(*records)).events)) == pubs
    assert publications_for(result.stored, feeds={}) == pubs
    by_event: dict[str, list] = {}
    for p in pubs:
        by_event.setdefault(p.event, []).append(p)
    assert len(by_event[AUTH_EVENT]) == 6
    assert all(p.channels == (EVENTS_CHANNEL,) for p in by_event[AUTH_EVENT])
    login = orjson.loads(by_event[LOGGED_IN_EVENT][0].data)
    signup = orjson.loads(by_event[SIGNED_UP_EVENT][0].data)
    assert by_event[LOGGED_IN_EVENT][0].channels == (FEED_CHANNEL,)
    assert login["email"] == "ada@example.com" and login["country"] == "France"
    assert login["app_metadata"] == {"signedUp": True} and signup["app_metadata"] == {}
    assert login["updated_at"].startswith("2026-11-20T10:00:00")
    # logout and blocked (with a user) go to the user's channel and to the signed-in user;
    # the password change without a user_id cannot be addressed and is not sent.
    sessions = by_event[SESSION_EVENT]
    kinds = sorted(orjson.loads(p.data)["kind"] for p in sessions if p.channels)
    assert kinds == ["blocked", "logout"]
    assert {p.channels for p in sessions if p.channels} == {(user_channel("auth0|user1"),)}
    assert {p.user_id for p in sessions if p.user_id} == {"auth0=7Cuser1"}
    first = orjson.loads(by_event[AUTH_EVENT][0].data)
    assert first["seq"] == 1 and first["event_id"] == record(1)["log_id"]


def test_feed_payload_is_none_for_other_events():
    assert feed_payload({"type": "f", "category": "login_failure"}) is None


def test_oversized_events_are_published_without_raw(tmp_path):
    from authviz.bridge.store import StoredEvent

    big = StoredEvent(
        7,
        "x",
        "2026-01-01T00:00:00.000Z",
        {"event_id": "x", "type": "f", "category": "login_failure"},
        orjson.dumps({"blob": "a" * 20_000}).decode(),
    )
    (pub,) = publications_for([big])
    data = orjson.loads(pub.data)
    assert data["raw"] is None and data["raw_truncated"] is True and data["seq"] == 7
    assert len(pub.data.encode()) <= 10_000


def test_channel_policy():
    policy = ChannelPolicy()
    alice = "auth0|alice"
    assert policy.decide(alice, user_channel(alice))
    assert not policy.decide(alice, user_channel("auth0|bob"))
    assert not policy.decide(alice, "private-user-auth0=7Cbob")
    assert not policy.decide("a", "private-user-=61")  # non-canonical spelling of "a"
    assert policy.decide(alice, "presence-chat") and policy.decide(alice, "presence-chat-room2")
    assert not policy.decide(alice, EVENTS_CHANNEL)  # the feed needs read:auth_events
    assert policy.decide(alice, EVENTS_CHANNEL, {"read:auth_events"})
    assert not policy.decide(alice, "private-admin")
    assert not policy.decide(alice, "private-encrypted-auth0-events")
    assert not policy.decide(alice, "presence-other")
    assert not policy.decide(alice, "#server-to-user-x")
    assert not policy.decide("", "presence-chat")
    assert ChannelPolicy.with_extra(["private-admin"]).decide(alice, "private-admin")


def test_signin_ids_are_channel_safe():
    assert signin_user_id("auth0|abc") == "auth0=7Cabc"
    assert signin_user_id("google-oauth2|123") == "google-oauth2=7C123"


class _Recorder:
    """A publisher that records, fails the first ``failures`` calls, and can be slowed down."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list] = []
        self.failures = failures
        self.gate = None

    async def publish(self, items):
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("server down")
        self.batches.append(list(items))

    async def close(self):
        return None


async def test_publish_queue_keeps_order_retries_and_bounds_memory():
    import asyncio

    from authviz.bridge.publications import Publication
    from authviz.bridge.publish import PublishQueue

    items = [Publication("e", str(n), ("c",)) for n in range(10)]
    recorder = _Recorder(failures=1)
    queue = PublishQueue(recorder, backoff_initial=0.01)
    queue.start()
    assert queue.submit(items) == 10
    await queue.drain(5)
    assert [p.data for batch in recorder.batches for p in batch] == [str(n) for n in range(10)]
    stats = queue.stats()
    assert (stats["pending"], stats["published"], stats["dropped"], stats["failed"], stats["retries"]) == (
        0,
        10,
        0,
        0,
        1,
    )
    assert stats["failing_since"] is None and stats["last_error"] == "server down"
    await queue.stop()

    # without a store behind it, a full queue drops (and counts) instead of growing without bound
    slow = _Recorder()
    slow.gate = asyncio.Event()
    bounded = PublishQueue(slow, max_pending=3)
    bounded.start()
    await asyncio.sleep(0)
    accepted = bounded.submit(items)
    assert accepted <= 4 and bounded.stats()["dropped"] == 10 - accepted
    slow.gate.set()
    await bounded.drain(5)
    await bounded.stop()


async def test_a_failing_publisher_keeps_the_events_and_resumes_in_order(caplog):
    """The issue's silent loss: the target down for many attempts loses nothing, says so once,
    and publishing resumes in order when it answers again."""
    import asyncio
    import logging

    from authviz.bridge.publications import Publication
    from authviz.bridge.publish import PublishQueue

    broken = _Recorder(failures=8)
    queue = PublishQueue(broken, backoff_initial=0.01, backoff_cap=0.02)
    queue.start()
    with caplog.at_level(logging.WARNING, logger="authviz.bridge.publish"):
        for n in range(1, 6):
            queue.submit([Publication("e", str(n), ("c",), seq=n)])
            await asyncio.sleep(0.01)
        assert queue.stats()["failing_since"] is not None and queue.handled_seq == 0
        await queue.drain(5)
    assert [p.data for batch in broken.batches for p in batch] == ["1", "2", "3", "4", "5"]
    stats = queue.stats()
    assert stats["failed"] == 0 and stats["retries"] == 8 and stats["failing_since"] is None
    assert queue.handled_seq == 5
    messages = [r.getMessage() for r in caplog.records]
    assert sum("publishing failed" in m for m in messages) == 1  # once per outage
    assert sum("publishing works again" in m for m in messages) == 1
    await queue.stop()


async def test_beyond_memory_the_queue_reads_the_events_back_from_the_store():
    """More than ``max_pending`` waiting (an outage, a burst): the rest is read back from the
    store after what memory holds, each event once and in seq order; chat stays in memory."""
    import asyncio

    from authviz.bridge.publications import Publication
    from authviz.bridge.publish import PublishQueue

    stored: dict[int, Publication] = {}
    reads: list[int] = []

    async def reload(after: int, limit: int):
        reads.append(after)
        seqs = sorted(s for s in stored if s > after)[:limit]
        return [stored[s] for s in seqs], (seqs[-1] if seqs else after)

    slow = _Recorder(failures=3)
    slow.gate = asyncio.Event()
    queue = PublishQueue(slow, reload=reload, max_pending=5, max_batch=4, backoff_initial=0.01)
    queue.start()
    for n in range(1, 41):
        stored[n] = Publication("e", str(n), ("c",), seq=n)
        queue.submit([stored[n]])
        if n == 3:  # chat is not in the event store: it waits in memory
            queue.submit([Publication("chat", "hello", ("chat",))])
    assert queue.stats()["pending"] <= 5
    slow.gate.set()
    await queue.drain(5)
    events = [int(p.data) for batch in slow.batches for p in batch if p.event == "e"]
    # each once; two batches are in flight at a time, so a retried one may follow its successor
    # (clients restore seq order: authviz.live.backfill)
    assert sorted(events) == list(range(1, 41))
    assert [p.data for batch in slow.batches for p in batch if p.event == "chat"] == ["hello"]
    assert queue.handled_seq == 40 and reads and queue.reloaded >= 35
    # caught up: new submissions come from memory again
    reads.clear()
    stored[41] = Publication("e", "41", ("c",), seq=41)
    assert queue.submit([stored[41]]) == 1
    await queue.drain(5)
    assert reads == [] and queue.handled_seq == 41
    await queue.stop()


async def test_resume_publishes_what_the_store_holds_after_the_published_seq():
    import asyncio

    from authviz.bridge.publications import Publication
    from authviz.bridge.publish import PublishQueue

    stored = {n: Publication("e", str(n), ("c",), seq=n) for n in range(1, 8)}

    async def reload(after: int, limit: int):
        seqs = sorted(s for s in stored if s > after)[:limit]
        return [stored[s] for s in seqs], (seqs[-1] if seqs else after)

    recorder = _Recorder()
    queue = PublishQueue(recorder, reload=reload)
    queue.resume(published_seq=3, stored_seq=7)
    stored[8] = Publication("e", "8", ("c",), seq=8)
    queue.submit([stored[8]])  # arrives while the store is read: not published twice
    queue.start()
    await queue.drain(5)
    assert [p.data for batch in recorder.batches for p in batch] == ["4", "5", "6", "7", "8"]
    await asyncio.sleep(0)
    await queue.stop()


async def test_publish_queue_batches_submissions_in_order_within_max_batch():
    from authviz.bridge.publications import Publication
    from authviz.bridge.publish import PublishQueue

    recorder = _Recorder()
    recorder.gate = __import__("asyncio").Event()
    queue = PublishQueue(recorder, max_batch=4)
    queue.start()
    submissions = [
        [Publication("e", f"{s}.{n}", ("c",), seq=10 * s + n) for n in range(size)]
        for s, size in enumerate([3, 5, 2, 9], 1)
    ]
    for items in submissions:
        assert queue.submit(items) == len(items)
    assert queue.stats()["pending"] == 19
    recorder.gate.set()
    await queue.drain(5)
    assert [p.data for batch in recorder.batches for p in batch] == [p.data for items in submissions for p in items]
    assert all(1 <= len(batch) <= 4 for batch in recorder.batches)
    assert queue.handled_seq == 48 and queue.stats()["pending"] == 0
    await queue.stop()


async def test_reported_seqs_are_the_stored_ones_with_group_commit_and_duplicates(tmp_path):
    import asyncio

    async with EventStore(tmp_path / "s.db") as store:
        bodies = [lines(*(record(n) for n in range(start, start + 7))) for start in (1, 5, 20, 30, 3)]
        results = await asyncio.gather(*(store.add_batch(prepare(b).events) for b in bodies))
        reported = {e.log_id: e.seq for r in results for e in r.stored}
        assert sum(r.duplicates for r in results) == 35 - len(reported)
        rows = await store.events_after(0, 1000)
        assert {r.log_id: r.seq for r in rows} == reported
        for r in results:
            assert [e.seq for e in r.stored] == sorted(e.seq for e in r.stored)


async def test_submit_batch_tells_the_seqs_before_the_commit_and_the_outcome_after(tmp_path):
    import asyncio

    async with EventStore(tmp_path / "s.db") as store:
        loop = asyncio.get_running_loop()
        inserted = loop.create_future()
        committed = store.submit_batch(prepare(lines(record(1), record(2))).events, inserted=inserted)
        early = await inserted
        assert [e.seq for e in early.stored] == [1, 2]
        assert await committed is early
        # a batch that fails inside its savepoint: both futures get the error, nothing is stored
        bad = loop.create_future()
        failing = store.submit_batch(
            prepare(lines(record(3))).events,
            [NewReject(1, "r", None)],  # type: ignore[arg-type]
            inserted=bad,
        )
        with pytest.raises(Exception):
            await bad
        with pytest.raises(Exception):
            await failing
        assert (await store.counts())["events"] == 2
