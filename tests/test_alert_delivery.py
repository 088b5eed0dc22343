"""Alert delivery against a real local HTTP receiver (aiohttp on loopback) that fails, stalls,
refuses, rate-limits and recovers; the wire formats and the de-duplication/throttling gate."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest

from authviz.alerts import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    AlertDelivery,
    Gate,
    sign,
    slack_payload,
    slack_target,
    verify_signature,
    webhook_document,
    webhook_target,
)
from authviz.alerts import Alert
from alert_receiver import Receiver

pytestmark = pytest.mark.timeout(60)

SECRET = "a3f1c0ffee0b7e5d9c2a48d1e6f7a9b0"
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def alert(
    key: str = "203.0.113.7",
    count: int = 14,
    severity: str = "high",
    rule: str = "credential_stuffing",
    summary: str | None = None,
    update: bool = False,
) -> Alert:
    return Alert(
        detection=rule,
        severity=severity,
        key=key,
        start=T0,
        end=T0,
        count=count,
        evidence_ids=("e1", "e2"),
        summary=summary or f"credential stuffing from {key}: {count} users",
        update=update,
        rule_id=f"rule-{rule}",
        title="Credential stuffing",
        what_to_do="Block the IP and reset the passwords of the accounts that logged in.",
    )


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def slack():
    r = Receiver(slack=True)
    yield r
    r.close()


def fast(targets, **kw) -> AlertDelivery:
    kw.setdefault("backoff", 0.05)
    kw.setdefault("max_backoff", 0.2)
    kw.setdefault("timeout", 2.0)
    kw.setdefault("throttle", 0.0)
    return AlertDelivery(targets, **kw)


# ---------------------------------------------------------------- wire formats
def test_signature_round_trip_and_rejections():
    body = webhook_document(alert(), "d1")
    header = sign(body, SECRET, timestamp=1_000_000)
    assert verify_signature(body, header, SECRET, now=1_000_010)
    assert not verify_signature(body + b" ", header, SECRET, now=1_000_010)  # tampered body
    assert not verify_signature(body, header, SECRET + "x", now=1_000_010)  # other key
    assert not verify_signature(body, header, SECRET, now=1_000_000 + 301)  # too old: replay
    assert not verify_signature(body, None, SECRET)
    assert not verify_signature(body, "t=abc,v1=00", SECRET)
    # a receiver rotating keys may be sent two v1 values; any match is enough
    rotated = header + ",v1=" + "0" * 64
    assert verify_signature(body, rotated, SECRET, now=1_000_000)


@pytest.mark.parametrize("secret", [None, "", "short"])
def test_weak_or_missing_secret_is_refused(secret):
    with pytest.raises(ValueError, match="signing key"):
        webhook_target("http://127.0.0.1:9/hook", secret)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "127.0.0.1:9/hook", "http:///nohost"])
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError, match="http:// or https://"):
        slack_target(url)


def test_slack_payload_escapes_user_controlled_text():
    evil = alert(key="<!channel>", summary="brute force on <https://evil.example|click> & more")
    payload = slack_payload(evil)
    text = orjson.dumps(payload).decode()
    assert "<!channel>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&amp; more" in text
    assert payload["text"].startswith("high alert: brute force on &lt;https://evil.example|click&gt;")
    assert any("What to do" in b.get("text", {}).get("text", "") for b in payload["blocks"])


def test_webhook_document_shape():
    doc = orjson.loads(webhook_document(alert(), "abc"))
    assert doc["type"] == "authviz.alert" and doc["version"] == 1 and doc["delivery_id"] == "abc"
    assert doc["alert"]["rule_id"] == "rule-credential_stuffing"
    assert doc["alert"]["title"] == "Credential stuffing"
    assert doc["alert"]["what_to_do"].startswith("Block the IP")
    assert doc["alert"]["evidence_ids"] == ["e1", "e2"]


# ---------------------------------------------------------------- gate (pure)
def test_gate_drops_duplicates_and_coalesces_updates_to_the_latest():
    gate = Gate(interval=60)
    first = alert(count=10)
    assert gate.offer(first, now=0) is first
    assert gate.offer(alert(count=10, update=True), now=1) is None  # same news: a duplicate
    assert gate.duplicates == 1
    assert gate.offer(alert(count=12, update=True), now=2) is None  # held (throttled)
    assert gate.offer(alert(count=20, update=True), now=3) is None  # replaces the held one
    assert gate.coalesced == 1 and gate.held == 1
    assert gate.due(now=59) == []
    assert gate.next_due() == 60
    released = gate.due(now=60)
    assert [a.count for a in released] == [20]
    # another group is independent of the first group's throttle
    other = alert(key="198.51.100.1")
    assert gate.offer(other, now=61) is other


def test_gate_memory_is_bounded():
    gate = Gate(interval=60, max_groups=100)
    for i in range(1000):
        gate.offer(alert(key=f"10.0.{i // 256}.{i % 256}"), now=i * 0.001)
        gate.offer(alert(key=f"10.0.{i // 256}.{i % 256}", count=99), now=i * 0.001)  # held
    assert len(gate._last) <= 100 and gate.held <= 100


# ---------------------------------------------------------------- delivery over HTTP
def test_signed_webhook_delivered_and_verifiable(receiver):
    with fast([webhook_target(receiver.url, SECRET)]) as delivery:
        delivery.submit(alert())
        got = receiver.wait_for(1)
    assert len(got) == 1
    request = got[0]
    assert verify_signature(request.body, request.headers[SIGNATURE_HEADER], SECRET)
    doc = request.json()
    assert request.headers[DELIVERY_HEADER] == doc["delivery_id"]
    assert doc["alert"]["key"] == "203.0.113.7" and doc["alert"]["severity"] == "high"
    assert delivery.targets[0].stats.delivered == 1


def test_failing_receiver_is_retried_with_the_same_delivery_then_recovers(receiver):
    receiver.script = ["500", "500"]
    with fast([webhook_target(receiver.url, SECRET)]) as delivery:
        delivery.submit(alert())
        got = receiver.wait_for(1)
        problems = delivery.problems()
    assert len(got) == 1 and len(receiver.attempts) == 3
    ids = {orjson.loads(a.body)["delivery_id"] for a in receiver.attempts}
    assert len(ids) == 1  # one delivery, retried: receivers de-duplicate on it
    stats = delivery.targets[0].stats
    assert (stats.delivered, stats.failed_attempts, stats.failed) == (1, 2, 0)
    assert any("HTTP 500; retrying" in p for p in problems) and any("delivering again" in p for p in problems)
    assert all(receiver.url not in p or "alert webhook http://127.0.0.1" in p for p in problems)


def test_backoff_grows_between_attempts(receiver):
    receiver.script = ["500", "500", "500"]
    with fast([webhook_target(receiver.url, SECRET)], backoff=0.1, max_backoff=1.0) as delivery:
        delivery.submit(alert())
        receiver.wait_for(1)
    times = [a.at for a in receiver.attempts]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 3
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39


def test_gives_up_after_max_attempts_and_goes_on_with_the_next(receiver):
    receiver.mode = "fail"
    with fast([webhook_target(receiver.url, SECRET)], max_attempts=3) as delivery:
        delivery.submit(alert(key="a"))
        deadline = time.monotonic() + 10
        while delivery.targets[0].stats.failed < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        receiver.mode = "ok"
        delivery.submit(alert(key="b"))
        got = receiver.wait_for(1)
        problems = delivery.problems()
    assert len(receiver.attempts) == 4  # 3 for "a", 1 for "b"
    assert [r.json()["alert"]["key"] for r in got] == ["b"]
    assert delivery.targets[0].stats.failed == 1
    assert any("gave up on an alert after 3 attempts (HTTP 500)" in p for p in problems)


def test_refused_document_is_not_retried(receiver):
    receiver.script = ["400"]
    with fast([webhook_target(receiver.url, SECRET)]) as delivery:
        delivery.submit(alert(key="a"))
        delivery.submit(alert(key="b"))
        got = receiver.wait_for(1)
        time.sleep(0.2)
    assert len(receiver.attempts) == 2 and [r.json()["alert"]["key"] for r in got] == ["b"]
    assert delivery.targets[0].stats.failed == 1


def test_rate_limit_retry_after_is_honoured(slack):
    slack.script = ["429:0.5"]
    with fast([slack_target(slack.url)], backoff=0.01, max_backoff=2.0) as delivery:
        delivery.submit(alert())
        got = slack.wait_for(1)
    assert len(got) == 1 and got[0].at - slack.attempts[0].at >= 0.45


def test_stalled_receiver_never_blocks_submit_and_the_queue_is_bounded(receiver):
    receiver.mode = "stall"
    with fast([webhook_target(receiver.url, SECRET)], max_queue=5, timeout=0.3, max_attempts=100) as delivery:
        started = time.perf_counter()
        for i in range(2000):
            delivery.submit(alert(key=f"10.0.{i // 256}.{i % 256}"))
        elapsed = time.perf_counter() - started
        stats = delivery.targets[0].stats
        # one alert is being attempted, five wait; the rest were dropped and counted
        assert stats.dropped >= 2000 - 6
        assert elapsed < 2.0  # microseconds per submit; a blocking submit would take 0.3 s each
        time.sleep(0.5)
        problems = delivery.problems()
        assert any("5 alerts are waiting; newer alerts are dropped" in p for p in problems)
        assert any("no answer within 0.3 s" in p for p in problems)
        receiver.mode = "ok"  # recovers: what waited is delivered, in order
        deadline = time.monotonic() + 15
        while delivery.targets[0].stats.delivered < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
    # at least once: the stalled request may still be processed after the client gave up on it,
    # and is retried with the same delivery id, so receivers de-duplicate on it
    unique: dict[str, str] = {}
    for r in receiver.received:
        unique.setdefault(r.json()["delivery_id"], r.json()["alert"]["key"])
    keys = list(unique.values())
    assert len(keys) == 6 and keys[0] == "10.0.0.0"
    order = [int(k.split(".")[2]) * 256 + int(k.split(".")[3]) for k in keys]
    assert order == sorted(order)  # in the order submitted


def test_duplicates_and_throttling_over_http(receiver):
    with fast([webhook_target(receiver.url, SECRET)], throttle=0.5) as delivery:
        delivery.submit(alert(count=10))
        delivery.submit(alert(count=10, update=True))  # identical news: dropped
        delivery.submit(alert(count=12, update=True))  # throttled, then replaced
        delivery.submit(alert(count=30, update=True))
        delivery.submit(alert(key="198.51.100.9"))  # another group: not throttled
        got = receiver.wait_for(3, timeout=5)
        time.sleep(0.3)
    counts = sorted((r.json()["alert"]["key"], r.json()["alert"]["count"]) for r in got)
    assert counts == [("198.51.100.9", 14), ("203.0.113.7", 10), ("203.0.113.7", 30)]
    assert len(receiver.attempts) == 3
    by_key = [r for r in got if r.json()["alert"]["key"] == "203.0.113.7"]
    assert by_key[1].at - by_key[0].at >= 0.45


def test_slack_and_webhook_together_one_failing_does_not_delay_the_other(receiver, slack):
    receiver.mode = "stall"
    with fast([webhook_target(receiver.url, SECRET), slack_target(slack.url)], timeout=5.0) as delivery:
        delivery.submit(alert())
        got = slack.wait_for(1, timeout=3)
        assert len(got) == 1 and got[0].json()["text"].startswith("high alert")
        receiver.mode = "ok"
        assert len(receiver.wait_for(1)) == 1


def test_close_flushes_held_alerts(receiver):
    delivery = fast([webhook_target(receiver.url, SECRET)], throttle=3600)
    delivery.submit(alert(count=10))
    delivery.submit(alert(count=11, update=True))  # held for an hour...
    delivery.close(flush_timeout=5)  # ...but closing sends it
    assert sorted(r.json()["alert"]["count"] for r in receiver.received) == [10, 11]
    with pytest.raises(RuntimeError):
        delivery.submit(alert())
