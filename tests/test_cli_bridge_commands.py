"""The bridge's commands (demo, simulate, token, bridge, serve's bridge flags) and ``authviz tail``'s
live and replay sources as a user runs them: signals stop every child, bad input is one sentence,
status lines go to stderr; real processes, real HTTP and websockets on loopback."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from authviz.cli import build_parser, main
from bridge_support import LOG_TOKEN, bridge_hub, free_port
from cli_support import clean_env, lines_of, one_sentence, run_cli

pytestmark = pytest.mark.timeout(90)


def wait_line(q: queue.Queue, needle: str, timeout: float) -> list[str]:
    """Lines read until one containing ``needle`` (AssertionError after ``timeout`` s or at EOF)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"no line with {needle!r} within {timeout} s; got {seen}")


# -- demo ------------------------------------------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_demo(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, list[psutil.Process], int]:
    """``authviz demo --no-jupyter`` (serve + simulate), once both children run."""
    port = free_port()
    state = tmp_path / "state"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authviz",
            "demo",
            "--no-jupyter",
            "--no-install",
            "--port",
            str(port),
            "--state-dir",
            str(state),
            "--rate",
            "5",
            *extra,
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 40
    while not (state / "demo.env").exists() and time.monotonic() < deadline:
        assert demo.poll() is None, demo.stderr.read()
        time.sleep(0.2)
    children = psutil.Process(demo.pid).children(recursive=True)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "serve --dev-identity" in names and "simulate" in names, names
    return demo, children, port


def _alive(children: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for child in children:
        try:
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def _cleanup(demo: subprocess.Popen, children: list[psutil.Process]) -> None:
    """Kill, by pid, whatever this test started and is still running."""
    if demo.poll() is None:
        demo.kill()
        demo.wait(10)
    for child in _alive(children):
        child.kill()
    psutil.wait_procs(children, timeout=10)


def test_demo_sigterm_stops_every_child_and_exits_0(tmp_path):
    demo, children, port = _start_demo(tmp_path)
    try:
        demo.send_signal(signal.SIGTERM)  # `kill`, a stopped `make demo`, a service manager
        _, err = demo.communicate(timeout=40)
        psutil.wait_procs(children, timeout=5)
        assert _alive(children) == [], [c.cmdline() for c in _alive(children)]
    finally:
        _cleanup(demo, children)
    assert demo.returncode == 0, err
    assert "Traceback" not in err
    assert "stopping the demo" in err
    assert not _port_open(port)


def test_demo_stops_the_rest_and_fails_when_a_child_dies(tmp_path):
    demo, children, port = _start_demo(tmp_path)
    try:
        simulator = next(c for c in children if "simulate" in c.cmdline())
        simulator.kill()
        _, err = demo.communicate(timeout=40)
        psutil.wait_procs(children, timeout=5)
        assert _alive(children) == []
    finally:
        _cleanup(demo, children)
    assert demo.returncode == 1, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last == "authviz: authviz simulate stopped unexpectedly (killed by SIGKILL); the demo stopped the rest."
    assert not _port_open(port)


def test_demo_refuses_an_unknown_scenario_before_starting_anything(tmp_path):
    done = run_cli(
        tmp_path,
        "demo",
        "--no-jupyter",
        "--port",
        str(free_port()),
        "--state-dir",
        str(tmp_path / "state"),
        "--scenario",
        "bogus",
        "--for",
        "8",
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--scenario" in done.stderr and "'bogus'" in done.stderr and "credential-stuffing" in done.stderr
    assert not (tmp_path / "state" / "demo.env").exists()  # nothing was started


def test_demo_and_simulate_help_give_defaults_placeholders_and_scenarios(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    demo = " ".join(capsys.readouterr().out.split())
    assert "--seed N" in demo and "simulator seed (default 0)" in demo
    assert "--for SECONDS" in demo
    assert "--scenario NAME" in demo and "impossible-travel" in demo and "credential-stuffing" in demo
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    simulate = " ".join(capsys.readouterr().out.split())
    assert "--state-dir DIR" in simulate and "(default: .authviz, env AUTHVIZ_STATE_DIR)" in simulate
    assert "--duration SECONDS" in simulate and "--count N" in simulate
    assert "normal events to send (default: until Ctrl-C)" in simulate


# -- simulate ---------------------------------------------------------------------------------------


def test_simulate_draws_no_progress_bar_into_a_pipe(tmp_path):
    with bridge_hub(tmp_path) as hub:
        done = run_cli(
            tmp_path,
            "simulate",
            "--target",
            hub.url,
            "--token",
            LOG_TOKEN,
            "--count",
            "40",
            "--rate",
            "1000",
            "--no-pace",
        )  # no --no-progress: stderr is a pipe here
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "event/s" not in done.stderr and "simulate:" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "posted 40 records in 1 batches: 40 stored, 0 duplicates, 0 quarantined"
    ]


def test_simulate_says_up_front_how_long_a_scenario_makes_the_run(tmp_path):
    with bridge_hub(tmp_path) as hub:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "authviz",
                "simulate",
                "--target",
                hub.url,
                "--token",
                LOG_TOKEN,
                "--count",
                "100",
                "--rate",
                "50",
                "--scenario",
                "credential-stuffing",
                "--no-progress",
            ],
            cwd=tmp_path,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = proc.stderr.readline()  # printed before anything is posted
            proc.send_signal(signal.SIGINT)
            proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert first.startswith("authviz simulate: this run takes about "), first
    # the scenario plays within 20 s live (SimulateOptions.scenario_span) after the 5 s delay: not
    # the ~2 s that 100 events at 50/s take alone
    assert "about 25 s" in first.split("(")[0]
    assert "the normal traffic alone would take about 2.0 s" in first
    assert "credential-stuffing scenario follows its own timeline" in first and "--no-pace" in first
    assert proc.returncode == 0


def test_simulate_to_a_wrong_path_is_one_clean_sentence(tmp_path, capsys):
    with bridge_hub(tmp_path) as hub:
        status = main(
            [
                "simulate",
                "--target",
                hub.url + "/wrong/path",
                "--token",
                LOG_TOKEN,
                "--count",
                "3",
                "--no-pace",
                "--no-progress",
            ]
        )
    assert status == 1
    line = one_sentence(capsys.readouterr().err, ignore=("authviz bridge:",))
    assert line == (
        f"authviz: {hub.url}/wrong/path answered HTTP 404 (not found): no log-stream webhook "
        "there; give the server's base URL or its /auth0/logs URL (--target)."
    )


# -- token ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", ["-5", "0", str(31 * 24 * 3600)])
def test_token_refuses_a_ttl_that_is_expired_or_absurd(tmp_path, capsys, ttl):
    from authviz.bridge.devidentity import write_dev_settings

    with bridge_hub(tmp_path, "--dev-identity") as hub:  # writes the dev identity's key
        write_dev_settings(tmp_path, issuer=hub.bridge.verifier.issuer, audience=hub.bridge.verifier.audience)
    assert main(["token", "--user", "alice", "--state-dir", str(tmp_path), "--ttl", "60"]) == 0
    capsys.readouterr()
    assert main(["token", "--user", "alice", "--state-dir", str(tmp_path), "--ttl", ttl]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no token printed
    assert one_sentence(captured.err) == (f"authviz: --ttl must be from 1 to 2592000 seconds (30 days), not {ttl}.")


# -- the store --------------------------------------------------------------------------------------


def test_serve_with_a_directory_or_a_corrupt_file_as_store_is_one_sentence(tmp_path):
    (tmp_path / "somedir").mkdir()
    done = run_cli(tmp_path, "serve", "--port", "0", "--state-dir", "state", "--store", "somedir")
    assert done.returncode == 1, done.stderr
    assert one_sentence(done.stderr) == (
        "authviz: the event store 'somedir' is a directory; give the path of an SQLite file (--store), "
        "e.g. .authviz/bridge.sqlite3."
    )
    (tmp_path / "corrupt.sqlite3").write_bytes(b"this is not SQLite, just text " * 100)
    done = run_cli(tmp_path, "serve", "--port", "0", "--state-dir", "state", "--store", "corrupt.sqlite3")
    assert done.returncode == 1, done.stderr
    line = one_sentence(done.stderr)
    assert line.startswith("authviz: cannot open the event store 'corrupt.sqlite3' (file is not a database)")
    assert line.endswith("it is not an authviz event store: move it away or give another --store.")


# -- bridge (standalone) and the bridge's flags -----------------------------------------------------


def test_bridge_without_pusher_url_is_a_usage_error(tmp_path):
    done = run_cli(tmp_path, "bridge", "--port", "0", "--state-dir", "state")
    assert done.returncode == 2, done.stderr
    assert one_sentence(done.stderr) == (
        "authviz: give --pusher-url (or set PUSHER_URL) as http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID."
    )


def test_bridge_has_no_meaningless_no_bridge_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:  # parse only: nothing is served
        build_parser().parse_args(["bridge", "--pusher-url", "http://k:s@127.0.0.1:1/apps/1", "--no-bridge"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-bridge" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bridge", "--help"])
    assert "--no-bridge" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--no-bridge" in capsys.readouterr().out  # serve keeps it: it leaves the bridge out


def test_bridge_port_in_use_says_it_once(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(
            tmp_path, "bridge", "--port", str(port), "--state-dir", "state", PUSHER_URL="http://k:s@127.0.0.1:1/apps/1"
        )
    assert done.returncode == 1, done.stderr
    line = one_sentence(done.stderr, ignore=("authviz bridge:",))
    assert line == (
        f"authviz: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(another `authviz serve`?); stop that server or choose another --port."
    )


@pytest.mark.parametrize("command", ["serve", "bridge"])
@pytest.mark.parametrize(
    "flag, value",
    [
        ("--max-log-body", "-5"),
        ("--max-log-body", "0"),
        ("--parse-workers", "-1"),
        ("--public-url", "notaurl"),
        ("--public-url", "ftp://example.com/"),
    ],
)
def test_bridge_flags_out_of_range_are_usage_errors_naming_the_flag(capsys, command, flag, value):
    with pytest.raises(SystemExit) as exit_info:  # parse only: nothing is served
        build_parser().parse_args([command, flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: must be" in err and repr(value) in err


# -- tail: replay files -----------------------------------------------------------------------------


def test_tail_replay_of_a_directory_says_it_is_a_directory(tmp_path):
    (tmp_path / "recordings").mkdir()
    done = run_cli(tmp_path, "tail", "--source", "replay:recordings")
    assert done.returncode == 1
    assert one_sentence(done.stderr) == (
        "authviz: The replay file recordings is a directory; give a JSON-lines file (a recording, as a "
        "Recorder writes it), e.g. replay:events.jsonl."
    )


@pytest.mark.parametrize(
    "content, what",
    [
        (b"SQLite format 3\x00" + bytes(range(256)) * 40, "an SQLite database"),
        (b"\x00\x01\x02\x03binary\n" * 500, "a binary file"),
        (b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4, "gzip-compressed"),
    ],
)
def test_tail_replay_of_a_binary_file_is_one_sentence(tmp_path, content, what):
    (tmp_path / "events.jsonl").write_bytes(content)
    done = run_cli(tmp_path, "tail", "--source", "replay:events.jsonl", "--speed", "max")
    assert done.returncode == 1
    assert done.stdout == ""
    assert one_sentence(done.stderr) == (
        f"authviz: The replay file events.jsonl is {what}, not JSON lines; give the JSON lines "
        "of a recording, as a Recorder writes them (or Auth0 records, one per line)."
    )


# -- tail: live connection status and authorization back-off ----------------------------------------


def test_tail_prints_one_status_line_on_disconnect_and_on_reconnect_never_on_stdout(tmp_path):
    from live_support import HubServer, wait_for

    hub = HubServer()
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "tail", "--channel", "auth0", "--json"],
        cwd=tmp_path,
        env=clean_env(PUSHER_URL=hub.pusher_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = lines_of(proc.stdout), lines_of(proc.stderr)
        subscribed = lambda: "auth0" in hub._hub.channels()  # noqa: E731
        wait_for(subscribed, 20)
        hub.stop()
        lost = wait_line(err, "lost the connection", 15)
        hub.start()
        back = wait_line(err, "reconnected", 30)
        wait_for(subscribed, 20)
        hub.trigger("auth0", "user-loggedIn", {"n": 1})
        event = json.loads(out.get(timeout=10))
        assert event["data"] == {"n": 1}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        hub.close()
    where = f"127.0.0.1:{hub.port}"
    assert lost[-1].strip() == (
        f"authviz: lost the connection to the Pusher server at {where}; reconnecting with back-off."
    )
    assert back[-1].strip() == f"authviz: reconnected to the Pusher server at {where}."
    status = [line for line in lost + back if "connect" in line and "Pusher server at" in line]
    assert sum("lost the connection" in line for line in status) == 1
    rest = []
    while True:
        try:
            line = out.get(timeout=2)
        except queue.Empty:
            break
        if line is None:
            break
        rest.append(line)
    assert all(json.loads(line) for line in rest)  # stdout holds only the JSON events


def test_a_refused_subscription_is_retried_with_a_growing_back_off(tmp_path):
    """A wrong secret: the hub refuses every subscription; the retries must space out."""
    from authviz.config import PusherSettings
    from authviz.live import LiveClient
    from live_support import APP_ID, KEY, HubServer

    hub = HubServer()
    settings = PusherSettings.from_url(f"http://{KEY}:wrong-secret@127.0.0.1:{hub.port}/apps/{APP_ID}")
    client = LiveClient(settings, backfill=False).connect()
    try:
        sub = client.subscribe("private-auth0-events")
        stamps: list[float] = []
        seen = 0
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and len(stamps) < 6:
            if client.auth_failures > seen:
                stamps.extend([time.monotonic()] * (client.auth_failures - seen))
                seen = client.auth_failures
            time.sleep(0.01)
        assert len(stamps) >= 5, stamps
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        # initial 0.5 s doubling, full jitter in [d/2, d]: the 4th wait is >= 2 s, the 1st <= 0.5 s
        assert gaps[3] >= 1.9 and gaps[3] > 2 * gaps[0], gaps
        assert all("refused the subscription to private-auth0-events" in str(e) for e in sub.errors)
        assert not client.is_subscribed("private-auth0-events")
    finally:
        client.close()
        hub.close()
