"""``authviz tail``: a real subprocess against the hub (restart, SIGINT), and its output formats."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from authviz.cli import main
from live_support import HubServer, wait_for
from cli_support import clean_env, lines_of

pytestmark = pytest.mark.timeout(60)


def test_tail_follows_across_a_restart_and_exits_0_on_ctrl_c(tmp_path):
    hub = HubServer()
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "tail", "--channel", "private-auth0-events", "--json"],
        cwd=tmp_path,
        env=clean_env(PUSHER_URL=hub.pusher_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out = lines_of(proc.stdout)
        subscribed = lambda: "private-auth0-events" in hub._hub.channels()  # noqa: E731
        wait_for(subscribed, 15)
        hub.trigger("private-auth0-events", "auth-event", {"n": 1})
        first = json.loads(out.get(timeout=10))
        assert (first["channel"], first["event"], first["data"]) == ("private-auth0-events", "auth-event", {"n": 1})
        hub.restart()
        wait_for(subscribed, 15)
        hub.trigger("private-auth0-events", "auth-event", {"n": 2})
        assert json.loads(out.get(timeout=10))["data"] == {"n": 2}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        errors = proc.stderr.read()
        assert "Traceback" not in errors
        assert all(line.startswith("authviz: ") for line in errors.splitlines())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        hub.close()


def test_tail_config_error_is_one_sentence(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "authviz", "tail"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "authviz: PUSHER_KEY is not set: give the app key (or PUSHER_URL). While `make demo` runs, load its "
        "settings first: set -a; . .authviz/demo.env; set +a (or watch simulated traffic with --source simulator)."
    )
    assert result.stdout == ""


def test_tail_lines_show_time_category_user_country(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert (
        main(["tail", "--source", "simulator:4", "--speed", "max", "--limit", "6", "--channel", "private-auth0-events"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    for line in lines:
        stamp, category, user, country = line.split(None, 3)
        assert stamp.endswith("Z") and len(stamp) == 20
        assert category in __import__("authviz.auth0", fromlist=["CATEGORIES"]).CATEGORIES
        assert user != "-" or category in ("other", "management_api")
        assert country


def test_tail_filters_events_and_strips_terminal_escapes(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.jsonl"
    records = [
        {
            "t": 1,
            "channel": "auth0",
            "event": "user-loggedIn",
            "data": {"email": "evil\x1b[2J@example.org", "country": "France", "updated_at": "2026-01-01T00:00:00Z"},
        },
        {"t": 2, "channel": "auth0", "event": "user-signedUp", "data": {"email": "b@example.org"}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["tail", "--source", f"replay:{path}", "--speed", "max", "--event", "user-loggedIn"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["2026-01-01T00:00:00Z  login_success    evil[2J@example.org              France"]
    assert "\x1b" not in out
