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
    categories, countries = expected_counts(250, seed=3)
    assert feed.counts == categories and feed.countries == countries
    assert chart.total == 250 and sum(events.counts.values()) == sum(
        categories[c] for c in events.categories)
    assert session.pump.dropped == 0
    text = summary(feed.counts, feed.countries)
    assert text.splitlines()[0] == "events by category:" and "total                   250" in text
    out, err = capfd.readouterr()
    assert out == "" and err == "", "something printed from a thread (it would land in a random cell)"


def test_two_chat_users_see_each_other_and_their_messages(session):
    ann, bob = session.chat(), session.chat(user="bob")
    assert ann.send("hi <b>bob</b>") and bob.send("hello")
    assert session.wait_for(lambda: len(ann.messages) == 2 and len(bob.messages) == 2
                            and len(ann.online) == 2 == len(bob.online), timeout=15)
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
