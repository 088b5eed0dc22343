"""`authviz serve`: start-up line, clean exit on SIGTERM/SIGINT, config files, the bridge mounted."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pusher
import pytest

from authviz.cli import main as authviz_main
from authviz.cli import serve as hub_cli
from hub_support import RawClient


def _start(tmp_path, *args):
    env = {**os.environ, "AUTHVIZ_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    line = proc.stdout.readline()
    if not line.startswith("PUSHER_ENV_FILE="):
        proc.kill()
        raise AssertionError(f"unexpected start-up output {line!r}: {proc.stderr.read()}")
    # the credentials are in a private file; the output names it (never the secret)
    proc.env_lines = (tmp_path / line.strip().split("=", 1)[1]).read_text().splitlines()
    return proc, urlsplit(proc.env_lines[0].split("=", 1)[1])


class _Addr:
    def __init__(self, port):
        self.ws_url = f"ws://127.0.0.1:{port}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_pusher_url_serves_and_stops_cleanly(tmp_path, sig):
    proc, url = _start(tmp_path, "--app-id", "42", "--key", "k42", "--secret", "s42")
    try:
        assert (url.username, url.password, url.path) == ("k42", "s42", "/apps/42")
        c = RawClient(_Addr(url.port), key="k42")
        c.established()
        c.subscribe("news")
        lib = pusher.Pusher(app_id="42", key="k42", secret="s42", host="127.0.0.1", port=url.port, ssl=False)
        lib.trigger("news", "flash", "hello")
        assert c.recv() == {"event": "flash", "channel": "news", "data": "hello"}
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
        assert c.recv()["data"]["code"] == 4100
        assert c.wait_close() == 4100
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in proc.stderr.read()


def test_serve_several_apps_from_a_config_file(tmp_path):
    config = tmp_path / "apps.json"
    config.write_text(
        json.dumps(
            {
                "apps": [
                    {"app_id": "1", "key": "ka", "secret": "sa"},
                    {"app_id": "2", "key": "kb", "secret": "sb", "enable_client_events": False},
                ]
            }
        )
    )
    proc, url = _start(tmp_path, "--config", str(config))
    try:
        second = proc.env_lines[1]
        assert second.startswith("PUSHER_URL_2=http://kb:sb@")
        for key in ("ka", "kb"):
            RawClient(_Addr(url.port), key=key).established()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


@pytest.mark.parametrize(
    "content,message",
    [
        ("{", "not valid JSON"),
        ('{"apps": []}', "must hold"),
        ('{"apps": [{"app_id": "1", "key": "k", "secret": "s", "colour": 1}]}', "unknown fields"),
        ('{"apps": [{"app_id": "1", "key": "k"}]}', "secret"),
    ],
)
def test_bad_config_is_one_sentence_and_exit_1(tmp_path, capsys, content, message):
    config = tmp_path / "apps.json"
    config.write_text(content)
    assert authviz_main(["serve", "--port", "0", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_missing_config_and_bad_port(tmp_path, capsys):
    assert authviz_main(["serve", "--config", str(tmp_path / "none.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert authviz_main(["serve", "--port", "70000"]) == 2
    assert "port" in capsys.readouterr().err


@pytest.mark.parametrize("no_bridge", [False, True])
def test_serve_mounts_the_bridge_on_the_hub_unless_told_not_to(tmp_path, no_bridge):
    parser = argparse.ArgumentParser()
    hub_cli.add_commands(parser.add_subparsers())
    args = parser.parse_args(
        [
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path),
            "--log-token",
            "t",
            *(["--no-bridge"] if no_bridge else []),
        ]
    )
    seen = {}

    def ready(port):
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"http://127.0.0.1:{port}/auth0/logs", data=b"", method="POST")
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as error:
            seen["status"] = error.code
        os.kill(os.getpid(), signal.SIGINT)

    async def main():
        loop = asyncio.get_running_loop()
        await hub_cli.serve(args, ready=lambda port: loop.run_in_executor(None, ready, port))

    asyncio.run(main())
    # the bridge refuses a log-stream post without its token; without the bridge there is no route
    assert seen["status"] == (404 if no_bridge else 401)


def test_debounce_and_cache_flags_and_config_fields(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    hub_cli.add_commands(parser.add_subparsers())
    args = parser.parse_args(["serve", "--webhook-debounce", "0.5", "--max-cache-channels", "7"])
    (app,) = hub_cli.apps_from_args(args)
    assert (app.webhook_debounce, app.max_cache_channels) == (0.5, 7)
    (default,) = hub_cli.apps_from_args(parser.parse_args(["serve"]))
    assert (default.webhook_debounce, default.max_cache_channels) == (3.0, 10_000)
    config = tmp_path / "apps.json"
    config.write_text(
        json.dumps(
            {
                "apps": [
                    {
                        "app_id": "1",
                        "key": "k",
                        "secret": "s",
                        "webhook_debounce": 0,
                        "cache_ttl": 60,
                        "max_cache_channels": 2,
                    }
                ]
            }
        )
    )
    (app,) = hub_cli.apps_from_args(parser.parse_args(["serve", "--config", str(config)]))
    assert (app.webhook_debounce, app.cache_ttl, app.max_cache_channels) == (0, 60, 2)
    for flags, message in (
        (["--webhook-debounce", "-1"], "--webhook-debounce"),
        (["--max-cache-channels", "0"], "--max-cache-channels"),
    ):
        assert authviz_main(["serve", "--port", "0", *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
