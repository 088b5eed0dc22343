"""Crash safety: ``kill -9`` of a real ``authviz serve`` during a webhook burst loses nothing that
was acknowledged; Auth0's retries after the restart are idempotent."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from bridge_support import LOG_TOKEN, ServeProcess, free_port, http, record


def stored_log_ids(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT log_id FROM events")]
    finally:
        conn.close()


@pytest.mark.timeout(120)
def test_kill_9_during_a_burst_loses_no_acknowledged_record(tmp_path):
    state = tmp_path / "state"
    server = ServeProcess(state, free_port(), "--dev-identity").start()
    batches: dict[int, list[dict]] = {}
    acknowledged: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        for n in range(10_000):
            if stop.is_set():
                return
            batch_id = worker * 100_000 + n
            batch = [record(batch_id * 50 + i, prefix="9") for i in range(50)]
            with lock:
                batches[batch_id] = batch
            body = "\n".join(json.dumps(r) for r in batch)
            try:
                status, _, _ = http("POST", server.url + "/auth0/logs", body, {"Authorization": LOG_TOKEN}, timeout=5)
            except OSError:
                return  # the server is gone: this batch was never acknowledged
            if status == 200:
                with lock:
                    acknowledged.update(r["log_id"] for r in batch)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            if len(acknowledged) >= 3_000:
                break
        time.sleep(0.02)
    server.kill()  # SIGKILL in the middle of the burst: no clean shutdown at all
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acknowledged) >= 3_000, "the burst was too slow to test anything"

    # Restart on the same state: every acknowledged log_id is there.
    server.start()
    try:
        db = state / "bridge.sqlite3"
        before = stored_log_ids(db)
        assert acknowledged <= set(before)
        assert len(before) == len(set(before))

        # Auth0 retries every batch (acknowledged or not): nothing is stored twice.
        all_ids = {r["log_id"] for batch in batches.values() for r in batch}
        duplicates = 0
        for batch in batches.values():
            status, body, _ = http(
                "POST",
                server.url + "/auth0/logs",
                "\n".join(json.dumps(r) for r in batch),
                {"Authorization": LOG_TOKEN},
            )
            assert status == 200
            duplicates += json.loads(body)["duplicates"]
        after = stored_log_ids(db)
        assert len(after) == len(set(after)) == len(all_ids) and set(after) == all_ids
        assert duplicates == len(before)
        # the history endpoint agrees with the file
        status, body, _ = http("GET", server.url + "/auth0/events?limit=1000", headers={"Authorization": LOG_TOKEN})
        assert status == 200 and json.loads(body)["events"][0]["event_id"] in all_ids
    finally:
        server.stop()


def test_events_committed_but_not_published_before_a_crash_are_published_at_restart(tmp_path):
    """A crash between the commit and the publish: the next start publishes what was missed
    (at least once), then records its progress so a clean restart publishes nothing again."""
    import asyncio
    import subprocess
    import sys

    from authviz.bridge.ingest import prepare
    from authviz.bridge.store import EventStore
    from authviz.hub import running_hub

    from bridge_support import ROOT, Subscriber

    async def committed_not_published() -> None:
        async with EventStore(tmp_path / "bridge.sqlite3") as store:
            assert await store.published_seq() == 0  # the marker, as a running bridge keeps it
            body = "\n".join(json.dumps(record(n, "s", email=f"u{n}@example.com")) for n in range(3))
            await store.add_batch(prepare(body.encode()).events)  # ... and then the crash

    asyncio.run(committed_not_published())

    def run_bridge(hub) -> None:
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "authviz",
                "bridge",
                "--pusher-url",
                hub.pusher_url,
                "--port",
                str(port),
                "--state-dir",
                str(tmp_path),
                "--log-token",
                LOG_TOKEN,
                "--public-feed",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                try:
                    if (
                        http(
                            "GET",
                            f"http://127.0.0.1:{port}/auth0/events?limit=1",
                            headers={"Authorization": LOG_TOKEN},
                            timeout=1,
                        )[0]
                        == 200
                    ):
                        break
                except OSError:
                    time.sleep(0.1)
            time.sleep(0.5)
        finally:
            proc.send_signal(2)  # a clean stop records the progress
            proc.wait(timeout=20)

    with running_hub() as hub:
        sub = Subscriber(hub.ws_url, key=hub.app.key)
        try:
            sub.subscribe("auth0")
            run_bridge(hub)
            got = [
                json.loads(sub.wait(lambda m: m.get("event") == "user-loggedIn", timeout=10)["data"])["email"]
                for _ in range(3)
            ]
            assert got == ["u0@example.com", "u1@example.com", "u2@example.com"]
            run_bridge(hub)  # nothing left to publish
            with pytest.raises(TimeoutError):
                sub.wait(lambda m: m.get("event") == "user-loggedIn", timeout=1)
        finally:
            sub.close()
