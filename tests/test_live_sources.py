"""Sources behind one interface: replay of recordings, the simulator, the recorder, AUTHVIZ_SOURCE."""

from __future__ import annotations

import json
import threading
import time

import pytest

from authviz.errors import ConfigError
from authviz.live import (
    LiveClient,
    LiveEvent,
    Recorder,
    ReplaySource,
    SimulatorSource,
    open_source,
    parse_source_spec,
    source_from_env,
)
from live_support import HubServer, live_threads, wait_for

pytestmark = pytest.mark.timeout(60)


def write_recording(path, n=5, step=0.1):
    with Recorder(path) as rec:
        for i in range(n):
            rec.write(LiveEvent("private-auth0-events", "auth-event", {"i": i}, "", 1000.0 + i * step))
    return path


def test_recorder_writes_what_a_live_subscription_receives_and_replay_plays_it(tmp_path):
    hub = HubServer()
    path = tmp_path / "rec.jsonl"
    try:
        client = LiveClient(hub.settings())
        sub = client.subscribe("private-auth0-events", "auth0")
        recorder = Recorder(path, flush_every=1)
        sub.on_event(recorder.write)
        assert sub.wait_subscribed(10)
        for i in range(3):
            hub.trigger("private-auth0-events", "auth-event", {"i": i})
        hub.trigger("auth0", "user-loggedIn", {"email": "a@example.org"})
        wait_for(lambda: recorder.written == 4, 5)
        assert client.close()
        recorder.close()
    finally:
        hub.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(d["channel"], d["event"]) for d in lines] == [("private-auth0-events", "auth-event")] * 3 + [
        ("auth0", "user-loggedIn")
    ]
    replay = open_source("replay", path=path, speed="max", channels=["private-auth0-events", "auth0"])
    got = [(e.channel, e.data) for e in replay.events(timeout=5)]
    assert got == [(d["channel"], d["data"]) for d in lines]
    assert replay.finished and live_threads() == []


def test_replay_keeps_the_recorded_pace_scaled_by_speed(tmp_path):
    path = write_recording(tmp_path / "r.jsonl", n=5, step=0.25)  # 1 s of recording
    started = time.monotonic()
    events = list(ReplaySource(path, speed=1).start().events(timeout=5))
    real = time.monotonic() - started
    assert [e.data["i"] for e in events] == list(range(5))
    assert 0.95 <= real < 3.0
    started = time.monotonic()
    assert len(list(ReplaySource(path, speed=10).start().events(timeout=5))) == 5
    assert time.monotonic() - started < 0.6  # 0.1 s of pacing


def test_replay_reports_bad_lines_and_loses_nothing_else(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"t": 1, "channel": "private-auth0-events", "event": "auth-event", "data": {"ok": 1}})
    auth0_record = json.dumps(
        {"log_id": "1", "data": {"date": "2026-11-01T00:00:00Z", "type": "s", "user_id": "auth0|1", "log_id": "1"}}
    )
    path.write_text("\n".join([good, "{broken", "[1, 2]", auth0_record, "", good]) + "\n")
    source = ReplaySource(path, speed="max").start()
    errors: list = []
    events = list(source.events(timeout=5))
    errors = [str(e) for e in source.errors]
    assert len(events) == 3 and source.bad_lines == 2
    assert events[1].auth_event is not None and events[1].auth_event.category == "login_success"
    assert errors[0].startswith("Line 2 of ") and "is not JSON" in errors[0]
    assert errors[1].startswith("Line 3 of ") and "not a JSON object" in errors[1]


def test_replay_of_a_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        ReplaySource(tmp_path / "nope.jsonl")


def test_simulator_is_seeded_paced_and_decodes_auth_events():
    def run(seed):
        source = SimulatorSource(seed=seed, rate=500, limit=40, speed="max").start()
        events = list(source.events(timeout=5))
        return [(e.auth_event.type, e.auth_event.user_id) for e in events]

    assert run(7) == run(7) != run(8)
    started = time.monotonic()
    source = SimulatorSource(seed=1, rate=20, limit=10).start()  # about half a second of traffic
    assert len(list(source.events(timeout=5))) == 10
    assert 0.1 < time.monotonic() - started < 3


def test_callbacks_run_on_one_consumer_thread_and_close_joins_everything():
    source = SimulatorSource(seed=2, rate=1000, speed="max", limit=None, channels=["private-auth0-events", "auth0"])
    threads: set[str] = set()
    source.on_event(lambda e: threads.add(threading.current_thread().name))
    source.start()
    wait_for(lambda: source.stats.delivered > 100, 5)
    source.close()
    assert threads == {"authviz-live-consumer"}
    assert live_threads() == []


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("live", ("live", None)),
        ("replay:/tmp/x.jsonl", ("replay", "/tmp/x.jsonl")),
        ("simulator", ("simulator", None)),
        ("simulator:42", ("simulator", "42")),
    ],
)
def test_source_specs(spec, expected):
    assert parse_source_spec(spec) == expected


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"AUTHVIZ_SOURCE": "kafka"}, "AUTHVIZ_SOURCE"),
        ({"AUTHVIZ_SOURCE": "replay"}, "AUTHVIZ_SOURCE"),
        ({"AUTHVIZ_SOURCE": "simulator", "AUTHVIZ_SIMULATOR_RATE": "fast"}, "AUTHVIZ_SIMULATOR_RATE"),
        ({"AUTHVIZ_SOURCE": "simulator", "AUTHVIZ_REPLAY_SPEED": "-1"}, "AUTHVIZ_REPLAY_SPEED"),
        ({"AUTHVIZ_SOURCE": "live"}, "PUSHER_KEY"),
    ],
)
def test_source_from_env_errors_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        source_from_env(env, dotenv_path=None)


def test_source_from_env_switches_with_one_setting(tmp_path):
    path = write_recording(tmp_path / "r.jsonl", n=3)
    replay = source_from_env({"AUTHVIZ_SOURCE": f"replay:{path}", "AUTHVIZ_REPLAY_SPEED": "max"}, dotenv_path=None)
    assert [e.data["i"] for e in replay.events(timeout=5)] == [0, 1, 2]
    sim = source_from_env({"AUTHVIZ_SOURCE": "simulator:5", "AUTHVIZ_REPLAY_SPEED": "max"}, dotenv_path=None, limit=3)
    assert len(list(sim.events(timeout=5))) == 3
    hub = HubServer()
    try:
        live = source_from_env({"PUSHER_URL": hub.pusher_url}, dotenv_path=None)
        assert live.wait_subscribed(10)
        hub.trigger("private-auth0-events", "auth-event", {"live": True})
        assert live.get(5).data == {"live": True}
        live.close()
    finally:
        hub.close()
    assert live_threads() == []
