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
                status, _, _ = http("POST", server.url + "/auth0/logs", body,
                                    {"Authorization": LOG_TOKEN}, timeout=5)
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
            status, body, _ = http("POST", server.url + "/auth0/logs",
                                   "\n".join(json.dumps(r) for r in batch), {"Authorization": LOG_TOKEN})
            assert status == 200
            duplicates += json.loads(body)["duplicates"]
        after = stored_log_ids(db)
        assert len(after) == len(set(after)) == len(all_ids) and set(after) == all_ids
        assert duplicates == len(before)
        # the history endpoint agrees with the file
        status, body, _ = http("GET", server.url + "/auth0/events?limit=1000",
                               headers={"Authorization": LOG_TOKEN})
        assert status == 200 and json.loads(body)["events"][0]["event_id"] in all_ids
    finally:
        server.stop()
