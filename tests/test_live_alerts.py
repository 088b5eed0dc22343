"""Live alerts in ``authviz tail``: a real subprocess replaying simulated traffic with an attack,
and the batching in-process with the real :class:`~authviz.alerts.LiveDetector`."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from authviz.live import ReplaySource
from authviz.live.alerts import AlertBatcher, format_alert
from authviz.simulator import TrafficGenerator
from authviz.topics import EVENTS_CHANNEL
from cli_support import clean_env

pytestmark = pytest.mark.timeout(90)

START = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def attack_file(tmp_path_factory):
    """A replay file (bare Log Streaming records, by date): normal traffic with credential stuffing
    injected in the middle, and the attack's ground truth."""
    generator = TrafficGenerator(seed=11, start=START, rate_per_s=0.05, diurnal=False)
    normal = list(generator.generate(n=60))
    records, truth = generator.attack("credential-stuffing", START + timedelta(minutes=5))
    merged = sorted(normal + records, key=lambda r: r["data"]["date"])
    path = tmp_path_factory.mktemp("alerts") / "attack.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in merged))
    return path, truth, len(merged)


def run_tail(path, *extra: str) -> subprocess.CompletedProcess:
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
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tail_prints_the_attack_alert_once(attack_file):
    path, truth, total = attack_file
    result = run_tail(path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    alerts = [line for line in lines if line.startswith("ALERT")]
    about = [line for line in alerts if f"Credential stuffing from one IP ({truth.key}):" in line]
    # once when it is found, once more when a login from that IP succeeds (escalated to high)
    assert len(about) == 2 and about[0].startswith(
        f"ALERT info Credential stuffing from one IP ({truth.key}): 10 users, 10 events in "
    )
    assert about[1].startswith(f"ALERT updated high Credential stuffing from one IP ({truth.key}):")
    assert "then 1 successful login" in about[1]
    assert len(lines) - len(alerts) == total  # every event printed as well


def test_tail_json_alert_objects_and_no_alerts(attack_file):
    path, truth, total = attack_file
    lines = [json.loads(line) for line in run_tail(path, "--json").stdout.splitlines()]
    alerts = [line["alert"] for line in lines if "alert" in line]
    stuffing = [a for a in alerts if a["detection"] == "credential_stuffing"]
    assert len(stuffing) == 2  # found, then escalated by a login from that IP (the attack's truth: high)
    assert (stuffing[0]["key"], stuffing[0]["severity"], stuffing[0]["update"]) == (truth.key, "info", False)
    assert (stuffing[1]["key"], stuffing[1]["severity"], stuffing[1]["update"]) == (truth.key, truth.severity, True)
    assert set(stuffing[1]["evidence_ids"]) <= set(truth.log_ids)
    assert len(stuffing[0]["evidence_ids"]) == 10 and set(stuffing[0]["evidence_ids"]) <= set(truth.log_ids)
    assert (
        stuffing[0]["rule_id"]
        and stuffing[0]["title"] == "Credential stuffing from one IP"
        and stuffing[0]["what_to_do"]
    )
    assert sum("event" in line for line in lines) == total

    quiet = run_tail(path, "--no-alerts")
    assert quiet.returncode == 0
    assert not [line for line in quiet.stdout.splitlines() if line.startswith("ALERT")]
    assert len(quiet.stdout.splitlines()) == total


def test_batches_raise_an_incident_once_then_only_its_growth(attack_file):
    """Events fed one small batch at a time (a fake clock): the first alert, then updates only when
    the incident gets worse; never the same alert twice."""
    path, truth, total = attack_file
    now = [0.0]
    batcher = AlertBatcher(interval=0.5, max_batch=200, clock=lambda: now[0])
    source = ReplaySource(path, speed="max", channels=[EVENTS_CHANNEL]).start()
    raised = []
    try:
        for event in source.events(timeout=10):
            now[0] += 0.2  # a batch every third event
            raised += batcher.add(event)
        raised += batcher.flush()
    finally:
        source.close()
    assert batcher.fed == total and batcher.batches >= total // 3
    stuffing = [a for a in raised if a.key == truth.key]
    messages = [format_alert(a) for a in stuffing]
    assert len(messages) == len(set(messages))
    assert stuffing and not stuffing[0].update and all(a.update for a in stuffing[1:])
    assert messages[0].startswith(f"ALERT info Credential stuffing from one IP ({truth.key}): 10 users, 10 events")


def test_max_batch_feeds_without_waiting_and_other_channels_are_ignored():
    from authviz.live import LiveEvent

    now = [0.0]
    batcher = AlertBatcher(interval=100.0, max_batch=3, clock=lambda: now[0])
    generator = TrafficGenerator(seed=3, start=START)
    from authviz.auth0 import parse_event

    events = [parse_event(r).to_dict() for r in generator.generate(n=6)]
    feed = LiveEvent("auth0", "user-loggedIn", {"email": "a@example.com"}, None, 0.0)
    assert batcher.add(feed) == [] and batcher.fed == 0
    for data in events[:3]:
        batcher.add(LiveEvent(EVENTS_CHANNEL, "auth-event", data, None, 0.0))
    assert (batcher.fed, batcher.batches) == (3, 1)
    with pytest.raises(ValueError):
        AlertBatcher(interval=0)


def test_ctrl_c_while_the_commands_load_is_quiet(monkeypatch, capsys):
    """``authviz.cli.main``: Ctrl-C during the (slow) sub-command imports exits 130 without a
    traceback; during a command it is the command's clean exit (0); errors keep 2 and 1."""
    import authviz.cli as cli
    from authviz.errors import AuthvizError, UsageError

    real_import = cli.importlib.import_module

    def interrupted(name, *args):
        if name == "authviz.cli.tail":
            raise KeyboardInterrupt
        return real_import(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert cli.main(["tail"]) == 130
    assert capsys.readouterr() == ("", "")
    monkeypatch.setattr(cli.importlib, "import_module", real_import)

    def handler_raising(error):
        def handler(args):
            raise error

        return handler

    for error, status in ((KeyboardInterrupt(), 0), (UsageError("Bad option."), 2), (AuthvizError("Broken."), 1)):
        parser = cli.build_parser()
        parser.set_defaults(func=handler_raising(error))
        monkeypatch.setattr(cli, "build_parser", lambda parser=parser: parser)
        assert cli.main([]) == status
        err = capsys.readouterr().err
        assert err == ("" if status == 0 else f"authviz: {error}\n")
