"""LiveSession end to end in-process: the embedded hub + bridge, the seeded simulator through the
real webhook, the live client, the pump and the widgets; two chat users through the bridge."""

from __future__ import annotations

import threading

import pytest

from authviz.errors import ConfigError
from authviz.widgets.session import LiveSession, expected_counts, settings_in_environment, summary


@pytest.fixture
def session(monkeypatch):
    monkeypatch.setenv("AUTHVIZ_NOTEBOOK_MODE", "local")
    s = LiveSession()
    try:
        yield s
    finally:
        s.stop()


def test_mode_follows_the_environment():
    assert settings_in_environment({}) is False
    assert settings_in_environment({"PUSHER_URL": "http://k:s@127.0.0.1:1/apps/1"}) is True
    assert settings_in_environment({"PUSHER_KEY": "k", "AUTHVIZ_NOTEBOOK_MODE": "local"}) is False
    with pytest.raises(ConfigError, match="mode must be"):
        LiveSession(mode="cloud")


def test_every_simulated_event_reaches_the_widgets_with_the_expected_counts(session, capfd):
    feed, chart, events = session.feed(), session.country_chart(), session.session_events()
    assert session.pump.mode == "thread"  # no loop in this thread; in a kernel it is "asyncio"
    session.simulate(n=250, rate=500, seed=3)
    assert session.wait_for_events(250, timeout=30), session.sim_errors
    categories, countries = expected_counts(250, seed=3, rate=500)
    assert feed.counts == categories and feed.countries == countries
    assert chart.total == 250 and sum(events.counts.values()) == sum(categories[c] for c in events.categories)
    assert session.pump.dropped == 0
    # one queue between the socket and the widgets: the subscription buffered nothing itself and
    # runs no consumer thread; every event it received went into the pump's queue
    sub = session._events_sub
    assert sub.stats.received == 250 == session.pump.submitted and sub.stats.high_water == 0
    assert not sub.consumer_alive()
    assert not [t for t in threading.enumerate() if t.name == "authviz-live-consumer"]
    text = summary(feed.counts, feed.countries)
    assert text.splitlines()[0] == "events by category:" and "total                   250" in text
    out, err = capfd.readouterr()
    assert out == "" and err == "", "something printed from a thread (it would land in a random cell)"


def test_two_chat_users_see_each_other_and_their_messages(session):
    ann, bob = session.chat(), session.chat(user="bob")
    assert ann.send("hi <b>bob</b>") and bob.send("hello")
    assert session.wait_for(
        lambda: len(ann.messages) == 2 and len(bob.messages) == 2 and len(ann.online) == 2 == len(bob.online),
        timeout=15,
    )
    assert [(a, t) for a, t, _ in bob.messages.values()] == [("Analyst", "hi <b>bob</b>"), ("Bob", "hello")]
    assert ann.online == ["Analyst", "Bob"]
    assert not ann.send("x" * 5000) and "the limit is" in ann.error


def test_stop_joins_every_thread_it_started(monkeypatch):
    monkeypatch.setenv("AUTHVIZ_NOTEBOOK_MODE", "local")
    before = {t.ident for t in threading.enumerate()}
    s = LiveSession()
    s.feed()
    s.simulate(n=2000, rate=100, seed=1)  # still posting when stopped
    s.stop()
    left = [t.name for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert left == []


def test_bridge_settings_accept_a_log_token_that_starts_with_a_dash(tmp_path):
    from authviz.widgets.local import _bridge_settings

    settings = _bridge_settings(tmp_path, "-starts-with-a-dash")
    assert settings.log_token == "-starts-with-a-dash" and settings.dev_identity


def test_live_session_mode_honours_pusher_url_in_dot_env(tmp_path, monkeypatch):
    """A PUSHER_URL that lives only in .env chooses remote mode, as it drives `authviz tail`."""
    for name in ("PUSHER_URL", "PUSHER_KEY", "AUTHVIZ_NOTEBOOK_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert settings_in_environment() is False
    (tmp_path / ".env").write_text("PUSHER_URL=http://k:s@127.0.0.1:6001/apps/1\n")
    assert settings_in_environment() is True
    monkeypatch.setenv("AUTHVIZ_NOTEBOOK_MODE", "local")
    assert settings_in_environment() is False


# -- live until you say stop --------------------------------------------------------------------
def test_status_words_for_every_state():
    from authviz.widgets.status import status_text

    assert status_text("live", total=10, rate=3.25, last_age=2.4) == "live · 3.2 events/s · last event 2 s ago"
    assert status_text("live", total=0, rate=0.0, last_age=None) == "live · 0.0 events/s · no events yet"
    assert status_text("reconnecting", total=5, rate=1.0, last_age=125) == "reconnecting · last event 2 min ago"
    assert status_text("stopped", total=1204, rate=4.0, last_age=1) == "stopped · 1,204 events"
    with pytest.raises(ValueError, match="state must be one of"):
        status_text("asleep", total=0, rate=None, last_age=None)


def test_status_line_counts_rate_and_age_on_its_clock():
    from authviz.widgets.status import StatusLine

    now = [100.0]
    state = ["live"]
    line = StatusLine(lambda: state[0], clock=lambda: now[0])
    line.consume(["a"] * 20)
    now[0] = 103.0
    assert line.refresh(103.0) and "2.0 events/s · last event 3 s ago" in line.text.value
    assert line.refresh(103.5) is False  # at most once a second
    now[0] = 120.0
    assert line.refresh(120.0) and "0.0 events/s · last event 20 s ago" in line.text.value
    state[0] = "stopped"
    assert line.refresh(float("inf")) and "stopped · 20 events" in line.text.value
    assert line.stop_button.disabled


def test_every_session_widget_has_a_status_line_and_stop_stops_the_session(session):
    feed, chart, events, chat = session.feed(), session.country_chart(), session.session_events(), session.chat()
    for widget in (feed, chart, events, chat):
        assert widget.status in widget.children and widget.status in session.pump.widgets
    assert session.wait_for(lambda: session.state() == "live", timeout=15)
    session.simulate(n=20, rate=200, seed=2)
    assert session.wait_for_events(20, timeout=20)
    session.wait_for(lambda: False, timeout=1.1)  # the status line redraws once a second
    assert "live" in feed.status.text.value and "last event" in feed.status.text.value
    chart.status.stop_button.click()  # any widget's Stop stops the whole session
    assert session.stopped and session.state() == "stopped" and not session.pump.running
    assert "stopped · 20 events" in feed.status.text.value
    assert feed.status.stop_button.disabled
    session.stop()  # idempotent
    with pytest.raises(ConfigError, match="stopped"):
        session.feed()


def test_widgets_keep_taking_events_after_the_last_cell(session):
    feed = session.feed()
    session.simulate(n=30, rate=300, seed=4)
    assert session.wait_for_events(30, timeout=20)
    first = feed.total
    session.simulate(n=30, rate=300, seed=5)  # more traffic after "Run All" ended
    assert session.wait_for(lambda: feed.total >= first + 30, timeout=20)


KERNEL_EXIT = r"""
import os, sys, threading, time
os.environ["AUTHVIZ_NOTEBOOK_MODE"] = "local"
from authviz.widgets import live_session
s = live_session()
s.feed()
s.chat()
s.simulate(n=5000, rate=200, seed=1)
assert s.wait_for_events(20, timeout=20)
print(s.hub.state_dir, flush=True)
sys.exit(0)  # like a kernel shutting down: no session.stop()
"""


def test_interpreter_exit_stops_every_session_cleanly(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-X", "dev", "-c", KERNEL_EXIT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    state_dir = Path(done.stdout.strip().splitlines()[-1])
    assert not state_dir.exists(), "the local hub's temporary store outlived the interpreter"
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr, done.stderr[-2000:]


def test_state_of_a_killed_kernel_is_swept_by_the_next_local_hub(tmp_path):
    import subprocess
    import sys

    from authviz.widgets.local import OWNER_FILE, STATE_PREFIX, sweep_stale_state

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale, alive, foreign = tmp_path / f"{STATE_PREFIX}a", tmp_path / f"{STATE_PREFIX}b", tmp_path / f"{STATE_PREFIX}c"
    for folder in (stale, alive, foreign):
        folder.mkdir()
    (stale / OWNER_FILE).write_text(dead.stdout)
    import os

    (alive / OWNER_FILE).write_text(f"{os.getpid()}\n")
    assert sweep_stale_state(tmp_path) == [stale]
    assert not stale.exists() and alive.exists() and foreign.exists()  # no owner file: not ours to judge


def test_dashboard_shows_an_alert_after_a_launched_attack(session):
    board = session.dashboard(background_rate=20)
    assert board.status in session.pump.widgets and board.feed.status is None  # one status line for the page
    assert session.wait_for(lambda: board.feed.total >= 5, timeout=20), session.sim_errors
    said = board.launch("credential-stuffing")
    assert said.startswith("Launched credential-stuffing: ") and said.endswith("ending now.")
    assert "Launched credential-stuffing" in board.launch_result.value
    assert session.wait_for(lambda: any(d == "credential_stuffing" for d, _k in board.alerts.alerts), timeout=30)
    assert "What to do:" in board.alerts.view.value
    assert "Could not launch" in board.launch("no-such-attack") and "is not a scenario" in board.launch_result.value
    assert board.chart.top() and board.chart.mapped()
