"""The Auth0 Action runs under Node with the real ``pusher`` npm library against the hub; what it
publishes is read by the parser as a tutorial (Rule-shaped) event."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from authviz.auth0.parse import parse_body
from authviz.hub import running_hub
from authviz.simulator import action_event
from authviz.topics import FEED_CHANNEL, LOGGED_IN_EVENT, SIGNED_UP_EVENT

from bridge_support import ROOT, Subscriber, record

ACTION = ROOT / "auth0" / "actions" / "post-login-pusher.js"
RULE = ROOT / "auth0" / "rules" / "pusher-feed.js"
NODE_MODULES = ROOT / "tests" / "node" / "soketi" / "node_modules"  # holds pusher 5.x (soketi's dependency)

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
    pytest.mark.skipif(not (NODE_MODULES / "pusher").is_dir(), reason="run `make node` for the pusher npm package"),
]

HARNESS = """
const action = require(process.argv[1]);
const event = JSON.parse(process.argv[2]);
const calls = [];
const api = { user: { setAppMetadata: (key, value) => calls.push([key, value]) } };
action.onExecutePostLogin(event, api).then(
  () => process.stdout.write(JSON.stringify(calls)),
  (error) => { console.error(error); process.exit(1); });
"""


def run_action(event: dict) -> tuple[list, str]:
    """The Action's api calls, and what it logged (console.log goes to stdout, before them)."""
    result = subprocess.run(
        ["node", "-e", HARNESS, str(ACTION), json.dumps(event)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    assert result.returncode == 0, result.stderr
    *logged, calls = result.stdout.rsplit("\n", 1) if "\n" in result.stdout else ("", result.stdout)
    return json.loads(calls), "".join(logged)


def test_the_action_publishes_what_the_parser_reads_as_a_tutorial_event():
    with running_hub() as hub:
        sub = Subscriber(hub.ws_url, key=hub.app.key)
        try:
            sub.subscribe(FEED_CHANNEL)
            secrets = {
                "PUSHER_APP_ID": hub.app.app_id,
                "PUSHER_KEY": hub.app.key,
                "PUSHER_SECRET": hub.app.secret,
                "PUSHER_HOST": "127.0.0.1",
                "PUSHER_PORT": str(hub.port),
                "PUSHER_USE_TLS": "false",
            }
            signup = action_event(
                record(1, "ss", user_id="auth0|new", email="new@example.com", country="Japan", code="JP")
            )
            login = action_event(record(2, "s"))
            signup["user"]["picture"] = "https://img.example/new.png"
            assert run_action({**signup, "secrets": secrets}) == ([["signedUp", True]], "")
            assert run_action({**login, "secrets": secrets}) == ([], "")
            got = [
                sub.wait(lambda m: m.get("event") in (SIGNED_UP_EVENT, LOGGED_IN_EVENT), timeout=10) for _ in range(2)
            ]
        finally:
            sub.close()
    assert [m["event"] for m in got] == [SIGNED_UP_EVENT, LOGGED_IN_EVENT]
    payloads = [json.loads(m["data"]) for m in got]
    assert payloads[0]["country"] == "Japan" and payloads[0]["app_metadata"] == {}
    assert payloads[1]["app_metadata"] == {"signedUp": True}
    result = parse_body("\n".join(json.dumps(p) for p in payloads))
    assert result.rejects == []
    first, second = result.events
    assert (first.email, first.country_name, first.user_id) == ("new@example.com", "Japan", "auth0|new")
    assert second.email == "ada@example.com" and second.country_name == "France"
    assert {first.category, second.category} <= {"signup", "login_success"}
    assert first.source == second.source == "rule"


def test_the_action_never_blocks_a_login_when_pusher_is_down():
    event = action_event(record(3, "s"))
    secrets = {
        "PUSHER_APP_ID": "1",
        "PUSHER_KEY": "k",
        "PUSHER_SECRET": "s",
        "PUSHER_HOST": "127.0.0.1",
        "PUSHER_PORT": "9",
        "PUSHER_USE_TLS": "false",
    }
    calls, logged = run_action({**event, "secrets": secrets})
    assert calls == [] and "could not publish user-loggedIn" in logged


def test_the_legacy_rule_is_valid_javascript():
    result = subprocess.run(["node", "--check", str(RULE)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
