"""The demo's notebook servers: a working copy that keeps edits, ports in use refused with one
sentence naming what answers there, server logs kept and shown on failure."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from authviz.bridge.demo import DemoOptions, check_ports_free
from authviz.errors import AuthvizError, SettingError
from authviz.notebook_servers import NotebookServer, log_tail, port_owner, working_copy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_working_copy_is_made_when_missing_kept_across_runs_and_reset_on_request(tmp_path):
    shipped, copy = tmp_path / "notebooks", tmp_path / "state" / "notebooks"
    shipped.mkdir()
    (shipped / "01_a.ipynb").write_text("shipped a")
    (shipped / "README.md").write_text("readme")
    (shipped / "notes.txt").write_text("not shipped")
    assert working_copy(shipped, copy) == ["01_a.ipynb", "README.md"]
    (copy / "01_a.ipynb").write_text("edited by a person")
    (copy / "mine.ipynb").write_text("a new notebook of theirs")
    (shipped / "02_b.ipynb").write_text("shipped b")  # a new notebook in a later version
    assert working_copy(shipped, copy) == ["02_b.ipynb"]
    assert (copy / "01_a.ipynb").read_text() == "edited by a person"
    assert working_copy(shipped, copy, reset=True) == ["01_a.ipynb", "02_b.ipynb", "README.md"]
    assert (copy / "01_a.ipynb").read_text() == "shipped a"
    assert (copy / "mine.ipynb").exists() and not (copy / "notes.txt").exists()
    with pytest.raises(AuthvizError, match="does not exist"):
        working_copy(tmp_path / "missing", copy)


def test_port_owner_names_what_answers():
    assert port_owner(_free_port()) is None
    from authviz.widgets.local import LocalHub

    hub = LocalHub().start()
    try:
        assert port_owner(hub.port) == "an authviz hub (another demo or `authviz serve`)"
        options = DemoOptions(port=hub.port, jupyter_port=_free_port(), dashboard_port=_free_port())
        with pytest.raises(AuthvizError) as error:
            check_ports_free(options)
        message = str(error.value)
        assert message == (
            f"The hub cannot listen on 127.0.0.1:{hub.port}: it is in use by an authviz hub "
            f"(another demo or `authviz serve`); stop that, or choose another port."
        )
        assert error.value.settings == ("port",)  # the command line says --port
    finally:
        hub.stop()


def test_port_owner_of_another_web_server_and_a_silent_listener():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert port_owner(server.server_address[1]).startswith("a web server (SimpleHTTP")
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert port_owner(silent.getsockname()[1], timeout=0.5) == "a program that does not speak HTTP"


def test_demo_options_need_three_different_ports():
    with pytest.raises(SettingError, match="three different ports"):
        DemoOptions(port=7000, jupyter_port=7001, dashboard_port=7001).validate()


def test_a_server_that_cannot_start_fails_with_the_tail_of_its_log(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = NotebookServer("dashboard", tmp_path, taken.getsockname()[1], tmp_path / "state" / "dashboard.log")
        import os

        server.start(dict(os.environ))
        start = time.monotonic()
        with pytest.raises(AuthvizError) as error:
            server.wait_ready(timeout=60)
    message = str(error.value)
    assert message.startswith("the dashboard stopped at start (exit 1)")
    assert "the last lines of its log" in message and str(tmp_path / "state" / "dashboard.log") in message
    assert "already in use" in message or "address" in message.lower(), message
    assert time.monotonic() - start < 60
    assert log_tail(tmp_path / "state" / "dashboard.log", lines=2)


def test_dashboard_server_serves_voila_and_the_offline_map_only(tmp_path):
    server = NotebookServer("dashboard", tmp_path, 1, tmp_path / "x.log")
    command = " ".join(server.command())
    assert "'voila': True" in command and "'authviz.widgets.serverext': True" in command
    assert "'jupyterlab': False" in command and "'jupyter_server_terminals': False" in command
    assert server.url.startswith("http://127.0.0.1:1/voila/render/00_dashboard.ipynb?token=")
    lab = NotebookServer("lab", tmp_path, 2, tmp_path / "lab.log")
    assert "--LabApp.news_url=None" in lab.command()
    lab._write_quiet_settings()
    assert (
        '"fetchNews": "false"'
        in (
            tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        ).read_text()
    )


def test_tail_without_settings_says_where_the_demo_keeps_them(tmp_path, monkeypatch, capsys):
    from authviz.cli import main

    for name in list(__import__("os").environ):
        if name.startswith(("PUSHER_", "AUTHVIZ_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["tail"]) == 1
    said = capsys.readouterr().err.strip()
    assert said.startswith("authviz: PUSHER_KEY is not set")
    assert "set -a; . .authviz/demo.env; set +a" in said and "--source simulator" in said
    assert len(said.splitlines()) == 1
