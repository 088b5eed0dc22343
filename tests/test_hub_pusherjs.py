"""The official JavaScript client (npm pusher-js, under Node) against the hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from authviz.hub import running_hub
from hub_support import APP_ID, KEY, SECRET

NODE_DIR = Path(__file__).parent / "node" / "pusher-js"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
]


def test_pusher_js_channels_client_events_server_to_user_and_watchlist():
    if not (NODE_DIR / "node_modules" / "pusher-js").is_dir():
        pytest.fail(f"pusher-js is not installed: run `make node` (npm install in {NODE_DIR})")
    # client events on, as a Pusher app with "Enable client events" ticked (off by default)
    with running_hub(APP_ID, KEY, SECRET, enable_client_events=True) as hub:
        env = {**os.environ, "HUB_PORT": str(hub.port), "HUB_KEY": KEY, "HUB_SECRET": SECRET, "HUB_APP_ID": APP_ID}
        proc = subprocess.run(
            [NODE, "conformance.js"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60
        )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    steps = {line["step"]: line for line in lines if "step" in line}
    assert steps["subscribed"]["presence_count"] == 2
    assert steps["subscribed"]["member_added"] == "js-b"
    assert steps["subscribed"]["members_seen_by_a"] == 2
    assert steps["triggered"]["data"] == {"n": 1}
    assert steps["client_event"] == {"step": "client_event", "received": {"from": "a"}, "echoed": 0}
    assert steps["server_to_user"]["data"] == {"hi": "a"}
    assert steps["member_removed"]["id"] == "js-b"
    assert steps["watchlist_online"]["user_ids"] == ["js-b"]
    assert steps["watchlist_offline"]["user_ids"] == ["js-b"]
    assert lines[-1] == {"done": True}
