"""The bridge's commands as a user runs them: simulate, token, bridge (standalone) and demo."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time


from authviz.cli import main
from authviz.hub import running_hub

from bridge_support import LOG_TOKEN, ROOT, Subscriber, bridge_hub, free_port, http, post_logs, record


def authviz(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "authviz", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def history(url: str) -> list[dict]:
    out, after = [], 0
    for _ in range(100):
        _, body, _ = http("GET", f"{url}/auth0/events?after={after}&limit=1000", headers={"Authorization": LOG_TOKEN})
        page = json.loads(body)
        out += page["events"]
        after = page["last_seq"]
        if not page["more"]:
            return out
    raise AssertionError("history did not end")


def test_simulate_posts_reproducible_traffic_through_the_webhook(tmp_path, capsys):
    with bridge_hub(tmp_path) as hub:
        args = [
            "simulate",
            "--target",
            hub.url,
            "--token",
            LOG_TOKEN,
            "--count",
            "150",
            "--rate",
            "50",
            "--seed",
            "7",
            "--start",
            "2026-11-20T08:00:00Z",
            "--no-pace",
            "--no-progress",
            "--scenario",
            "brute-force",
        ]
        assert main(args) == 0
        first = history(hub.url)
        assert len(first) > 150  # normal traffic + the injected attack
        categories = {e["category"] for e in first}
        assert {"login_success", "login_failure"} <= categories
        assert len({e["country_code"] for e in first}) > 3
        # same seed and start: the very same records, so Auth0-style idempotence makes it a no-op
        assert main(args) == 0
        assert "0 stored" in capsys.readouterr().err
        assert len(history(hub.url)) == len(first)


def test_simulate_paces_on_the_wall_clock(tmp_path):
    with bridge_hub(tmp_path) as hub:
        started = time.monotonic()
        assert (
            main(
                [
                    "simulate",
                    "--target",
                    hub.url + "/auth0/logs",
                    "--token",
                    LOG_TOKEN,
                    "--duration",
                    "1.5",
                    "--rate",
                    "40",
                    "--no-progress",
                ]
            )
            == 0
        )
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 20  # paced on the wall clock (the upper bound only catches hangs)
        assert 10 < len(history(hub.url)) < 200


def test_simulate_reports_a_down_target_and_a_wrong_token(tmp_path, capsys):
    port = free_port()
    assert (
        main(
            [
                "simulate",
                "--target",
                f"http://127.0.0.1:{port}",
                "--token",
                "t",
                "--count",
                "3",
                "--no-progress",
                "--no-pace",
                "--retries",
                "1",
            ]
        )
        == 1
    )
    assert "is `authviz serve` running there?" in capsys.readouterr().err
    with bridge_hub(tmp_path) as hub:
        assert (
            main(["simulate", "--target", hub.url, "--token", "wrong", "--count", "3", "--no-progress", "--no-pace"])
            == 1
        )
        assert "refused the token" in capsys.readouterr().err
    assert main(["simulate", "--target", "nonsense", "--token", "t", "--count", "1"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err


def test_token_command_mints_tokens_the_server_accepts(tmp_path, capsys):
    with bridge_hub(tmp_path, "--dev-identity") as hub:
        from authviz.bridge.devidentity import write_dev_settings

        write_dev_settings(tmp_path, issuer=hub.bridge.verifier.issuer, audience=hub.bridge.verifier.audience)
        assert main(["token", "--user", "alice", "--state-dir", str(tmp_path)]) == 0
        local = capsys.readouterr().out.strip()
        assert main(["token", "--user", "bob", "--server", hub.url]) == 0
        remote = capsys.readouterr().out.strip()
        for token, user in ((local, "dev|alice"), (remote, "dev|bob")):
            status, body, _ = http(
                "POST",
                hub.url + "/pusher/auth",
                "socket_id=1.1&channel_name=presence-chat",
                {"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"},
            )
            assert status == 200 and json.loads(json.loads(body)["channel_data"])["user_id"] == user
    result = authviz("token", "--user", "alice", "--state-dir", str(tmp_path / "empty"))
    assert result.returncode == 1 and "authviz serve --dev-identity" in result.stderr


def test_standalone_bridge_publishes_through_the_pusher_http_api(tmp_path):
    with running_hub() as hub:
        sub = Subscriber(hub.ws_url, key=hub.app.key)
        sub.subscribe("auth0")
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "authviz",
                "bridge",
                "--pusher-url",
                hub.pusher_url,
                "--port",
                str(port),
                "--state-dir",
                str(tmp_path),
                "--log-token",
                LOG_TOKEN,
                "--public-feed",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if post_logs(url, [record(1, "s")])[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            got = sub.wait(lambda m: m.get("event") == "user-loggedIn", timeout=10)
            assert json.loads(got["data"])["email"] == "ada@example.com"
        finally:
            proc.send_signal(2)
            proc.wait(timeout=10)
            sub.close()
    result = authviz(
        "bridge", "--port", "0", "--state-dir", str(tmp_path), env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    )
    assert result.returncode == 2 and "--pusher-url" in result.stderr  # a missing setting: usage


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_starts_everything_and_ctrl_c_stops_every_child(tmp_path):
    import signal
    import sqlite3

    import psutil

    port = free_port()
    state = tmp_path / "state"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authviz",
            "demo",
            "--no-jupyter",
            "--port",
            str(port),
            "--state-dir",
            str(state),
            "--rate",
            "30",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        while not (state / "demo.env").exists() and time.monotonic() < deadline:
            assert demo.poll() is None, demo.stderr.read()
            time.sleep(0.2)
        children = psutil.Process(demo.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "serve --dev-identity" in names and "simulate" in names
        posted = 0
        while posted == 0 and time.monotonic() < deadline + 20:  # until the simulator has posted
            time.sleep(0.3)
            conn = sqlite3.connect(state / "bridge.sqlite3")
            posted = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            conn.close()
        assert posted > 0
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert not _port_open(port)
    assert f"http://127.0.0.1:{port}" in err
    assert f"PUSHER_AUTH_ENDPOINT=http://127.0.0.1:{port}/pusher/auth" in out
    assert "authviz-secret" not in out  # secrets go to the env file only
    env = dict(line.split("=", 1) for line in (state / "demo.env").read_text().splitlines())
    assert env["PUSHER_URL"].endswith(f"@127.0.0.1:{port}/apps/1")
    assert (state / "demo.env").stat().st_mode & 0o777 == 0o600
