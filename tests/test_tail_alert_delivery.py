"""``authviz tail --alert-webhook/--alert-slack``: a real tail subprocess replaying an attack delivers
its alert, signed, to local receivers (aiohttp on loopback); wrong use is one sentence."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from authviz.alerts import SIGNATURE_HEADER, verify_signature
from authviz.simulator import TrafficGenerator
from authviz.topics import EVENTS_CHANNEL
from alert_receiver import Receiver
from cli_support import clean_env

pytestmark = pytest.mark.timeout(120)

START = datetime(2026, 11, 1, 12, tzinfo=UTC)
SECRET = "0f4c2b9d8e7a6f5e4d3c2b1a09f8e7d6"


@pytest.fixture(scope="module")
def attack_file(tmp_path_factory):
    generator = TrafficGenerator(seed=11, start=START, rate_per_s=0.05, diurnal=False)
    normal = list(generator.generate(n=40))
    records, truth = generator.attack("credential-stuffing", START + timedelta(minutes=5))
    merged = sorted(normal + records, key=lambda r: r["data"]["date"])
    path = tmp_path_factory.mktemp("delivery") / "attack.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in merged))
    return path, truth


def tail(path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "authviz",
            "tail",
            "--source",
            f"replay:{path}",
            "--speed",
            "max",
            "--channel",
            EVENTS_CHANNEL,
            *extra,
        ],
        cwd=path.parent,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture
def receivers():
    webhook, slack = Receiver(), Receiver(slack=True)
    yield webhook, slack
    webhook.close()
    slack.close()


def test_tail_delivers_signed_alerts_to_a_webhook_and_slack(attack_file, receivers):
    path, truth = attack_file
    webhook, slack = receivers
    webhook.script = ["500"]  # the first attempt fails: retried
    result = tail(path, "--alert-webhook", webhook.url, "--alert-slack", slack.url, AUTHVIZ_ALERT_WEBHOOK_SECRET=SECRET)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    printed = [line for line in result.stdout.splitlines() if line.startswith("ALERT")]
    assert printed
    documents = [r.json() for r in webhook.received]
    assert len(documents) == len(printed)  # one document per alert (no duplicates, throttle not reached)
    for request in webhook.received:
        assert verify_signature(request.body, request.headers[SIGNATURE_HEADER], SECRET)
    stuffing = [d["alert"] for d in documents if d["alert"]["detection"] == "credential_stuffing"]
    assert stuffing and stuffing[0]["key"] == truth.key and stuffing[0]["what_to_do"]
    assert len(slack.received) == len(printed)
    assert any(truth.key in r.json()["text"] for r in slack.received)
    assert "HTTP 500; retrying with back-off" in result.stderr and "delivering again" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_a_webhook_without_its_key_is_refused_in_one_sentence(attack_file):
    path, _ = attack_file
    result = tail(path, "--alert-webhook", "http://127.0.0.1:9/hook")
    assert result.returncode == 1
    assert "AUTHVIZ_ALERT_WEBHOOK_SECRET" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    short = tail(path, "--alert-webhook", "http://127.0.0.1:9/hook", AUTHVIZ_ALERT_WEBHOOK_SECRET="short")
    assert short.returncode == 1 and "at least 16" in short.stderr


def test_delivery_without_live_alerts_and_bad_urls_are_usage_errors(attack_file):
    path, _ = attack_file
    result = tail(path, "--alert-slack", "http://127.0.0.1:9/hook", "--no-alerts")
    assert result.returncode == 2 and f"--channel {EVENTS_CHANNEL}" in result.stderr
    bad = tail(path, "--alert-webhook", "ftp://example.com/x", AUTHVIZ_ALERT_WEBHOOK_SECRET=SECRET)
    assert bad.returncode == 2 and "http:// or https://" in bad.stderr
