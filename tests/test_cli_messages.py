"""The command line speaks to people: every command and flag has help, the README's commands, flags
and settings exist, and each common mistake gives one sentence and the right exit status (2 usage,
1 failure), never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authviz.auth0 import bulk
from authviz.cli import logs_convert as auth0_cli
from authviz.auth0.bulk import LogInputError, read_logs
from authviz.cli import build_parser, main
from authviz.config import PusherSettings
from authviz.cli.serve import listen_error
from cli_support import clean_env, one_sentence, run_cli

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "auth0"  # copies of the shared samples (see its README)
LOG_STREAM_SAMPLE = FIXTURES / "elastic_auth0_logstream_webhook.ndjson"
SAMPLE_LINE = (
    b'{"log_id": "90020230101000000000000000000000000000000000000000000001", "data": '
    b'{"date": "2026-01-01T00:00:00.000Z", "type": "s", "user_id": "auth0|1", '
    b'"ip": "203.0.113.7", "log_id": "90020230101000000000000000000000000000000000000000000001"}}\n'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- help -----------------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _all_commands(parser, prefix=()):
    for name, sub in _subparsers(parser):
        yield (*prefix, name), sub
        yield from _all_commands(sub, (*prefix, name))


def test_every_command_and_flag_has_help():
    commands = list(_all_commands(build_parser()))
    assert {" ".join(path) for path, _ in commands} >= {
        "logs",
        "logs convert",
        "logs pull",
        "serve",
        "tail",
        "simulate",
        "token",
        "demo",
        "bridge",
    }
    for path, parser in commands:
        assert parser.description, f"authviz {' '.join(path)} has no description"
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"authviz {' '.join(path)} {action.option_strings or action.dest}: no help"


def test_logs_help_names_only_commands_that_exist(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    logs_line = next(line for line in top.splitlines() if line.strip().startswith("logs "))
    assert "inspect" not in logs_line  # there is no `authviz logs inspect`
    logs = dict(_subparsers(build_parser()))["logs"]
    assert set(dict(_subparsers(logs))) == {"convert", "pull"}
    assert "inspect" not in (logs.description or "").lower()


def test_serve_metavars_say_what_to_give(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "--activity-timeout SECONDS" in text and "--config FILE" in text and "--webhook-url URL" in text


# -- serve ----------------------------------------------------------------------------------------


def test_serve_refuses_a_non_numeric_app_id(tmp_path):
    # The PUSHER_URL it would print (/apps/x) is refused by every client (PUSHER_APP_ID numeric).
    done = run_cli(tmp_path, "serve", "--port", "0", "--no-bridge", "--app-id", "x")
    assert done.returncode == 2
    assert "--app-id must be numeric" in one_sentence(done.stderr)
    assert "PUSHER_URL" not in done.stdout


def test_serve_config_file_refuses_a_non_numeric_app_id(tmp_path):
    config = tmp_path / "apps.json"
    config.write_text('{"apps": [{"app_id": "abc", "key": "k", "secret": "s"}]}')
    done = run_cli(tmp_path, "serve", "--port", "0", "--no-bridge", "--config", str(config))
    assert done.returncode == 1
    assert "app_id must be numeric" in one_sentence(done.stderr)


def test_serve_on_a_port_in_use_says_so_once(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(tmp_path, "serve", "--port", str(port), "--no-bridge")
    assert done.returncode == 1
    line = one_sentence(done.stderr.replace("authviz hub", ""))
    assert line == (
        f"authviz: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(another `authviz serve`?); stop that server or choose another --port."
    )


def test_listen_errors_point_at_the_flag_to_change():
    not_here = OSError(
        errno.EADDRNOTAVAIL,
        "error while attempting to bind on address ('203.0.113.5', 6001): cannot assign requested address",
    )
    assert listen_error("203.0.113.5", 6001, not_here) == (
        "cannot listen on 203.0.113.5:6001: cannot assign requested address; check --host (an address of this machine)."
    )
    unknown = socket.gaierror(-2, "Name or service not known")
    assert listen_error("nosuch.invalid", 6001, unknown).endswith(
        ": name or service not known; check --host (an address of this machine)."
    )


def test_serve_prints_a_pusher_url_clients_can_read_back(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authviz",
            "serve",
            "--port",
            "0",
            "--no-bridge",
            "--key",
            "k@y:1",
            "--secret",
            "s/e:c@",
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert line.startswith("PUSHER_ENV_FILE=")
    line = (tmp_path / line.split("=", 1)[1]).read_text().splitlines()[0]
    settings = PusherSettings.from_url(line.split("=", 1)[1])
    assert (settings.key, settings.secret, settings.app_id) == ("k@y:1", "s/e:c@", "1")


# -- logs convert ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, what",
    [
        (b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00", "is a Parquet file"),
        (b"BZh91AY&SY\x00\x01", "is bzip2-compressed"),
        (b"\x7fELF\x02\x01\x01\x00", "is a program"),
        (b"\x00\x01\x02binary\xff\xfe\n" * 10, "is a binary file"),
        (gzip.compress(b"\x00\x00\x00\x01 not text"), "is a binary file"),
    ],
)
def test_convert_refuses_a_binary_file_in_one_sentence(tmp_path, content, what):
    (tmp_path / "in.jsonl").write_bytes(content)
    done = run_cli(tmp_path, "logs", "convert", "in.jsonl", "-o", "out.parquet")
    assert done.returncode == 2
    line = one_sentence(done.stderr)
    assert line.startswith(f"authviz: 'in.jsonl' {what}, not Auth0 logs: give JSON lines")
    assert not (tmp_path / "out.parquet").exists()
    assert not (tmp_path / "out.parquet.rejects.jsonl").exists()


def test_read_logs_refuses_binary_bytes():
    with pytest.raises(LogInputError, match="the input is a Parquet file"):
        read_logs(b"PAR1" + bytes(100))
    with pytest.raises(LogInputError, match="the input is a binary file"):
        read_logs(gzip.compress(SAMPLE_LINE + b"\x00\x00"))


def test_text_with_an_escaped_nul_is_still_read():
    line = SAMPLE_LINE.replace(b'"auth0|1"', b'"auth0|\\u0000"')
    assert len(read_logs(line).frame) == 1


def test_convert_of_an_empty_file_says_it_is_empty(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    done = run_cli(tmp_path, "logs", "convert", "empty.jsonl", "-o", "out.csv")
    assert done.returncode == 0
    assert one_sentence(done.stderr) == "authviz: note: 'empty.jsonl' is empty (no records)."
    assert "wrote 0 events to out.csv" in done.stdout


def test_convert_progress_only_on_a_terminal_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bulk, "PROGRESS_MIN_BYTES", 0)  # every input counts as large
    monkeypatch.setattr(auth0_cli, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_bytes(LOG_STREAM_SAMPLE.read_bytes())
    assert main(["logs", "convert", "in.jsonl", "-o", "out.parquet"]) == 0  # stderr: not a TTY
    assert capsys.readouterr().err == ""
    assert main(["logs", "convert", "in.jsonl", "-o", "out.parquet", "--progress"]) == 0
    assert "parsing" in capsys.readouterr().err


# -- logs pull ------------------------------------------------------------------------------------


def test_pull_into_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    done = run_cli(tmp_path, "logs", "pull", "--domain", "acme.auth0.com", "--token", "t", "-o", "notes.txt")
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        "authviz: --output 'notes.txt' is a file; give a directory for the Parquet files"
    )


def test_pull_output_that_cannot_be_created_is_one_sentence(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    # mkdir fails before any request is made: no network is touched
    done = run_cli(tmp_path, "logs", "pull", "--domain", "acme.auth0.com", "--token", "t", "-o", "notes.txt/logs")
    assert done.returncode == 1
    assert one_sentence(done.stderr) == "authviz: cannot write 'notes.txt/logs': Not a directory"


def test_pull_negative_max_wait_is_a_usage_error(tmp_path):
    done = run_cli(
        tmp_path, "logs", "pull", "--domain", "acme.auth0.com", "--token", "t", "-o", "out", "--max-wait", "-1"
    )
    assert done.returncode == 2
    assert one_sentence(done.stderr) == "authviz: --max-wait must be 0 or more seconds, not -1"
    assert not (tmp_path / "out").exists()


# -- tail -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_tail_without_a_server_retries_then_exits_0_on_a_signal(tmp_path, sig):
    url = f"http://k:s@127.0.0.1:{free_port()}/apps/1"  # nothing listens there
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "tail"],
        cwd=tmp_path,
        env=clean_env(PUSHER_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        status = proc.stderr.readline()  # blocks until the first failed attempt is reported
        assert "Could not connect" in status and "retrying with back-off" in status
        time.sleep(0.5)
        assert proc.poll() is None  # still retrying
        proc.send_signal(sig)
        assert proc.wait(15) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PUSHER_URL": "garbage"}, "PUSHER_URL must look like http://KEY:SECRET@HOST:PORT/apps/APP_ID."),
        (
            {"PUSHER_KEY": "k", "PUSHER_HOST": "127.0.0.1", "PUSHER_TLS": "maybe"},
            "PUSHER_TLS must be true or false, not 'maybe'.",
        ),
        (
            {"PUSHER_KEY": "k", "PUSHER_HOST": "127.0.0.1", "PUSHER_PORT": "abc"},
            "PUSHER_PORT must be a port number from 1 to 65535, not 'abc'.",
        ),
    ],
)
def test_tail_with_a_bad_setting_is_one_sentence(tmp_path, env, message):
    done = run_cli(tmp_path, "tail", **env)
    assert done.returncode == 1
    assert one_sentence(done.stderr) == f"authviz: {message}"


# -- make -----------------------------------------------------------------------------------------


def test_make_help_lists_every_documented_target():
    root = Path(__file__).resolve().parent.parent
    documented = {
        line.split(":", 1)[0]
        for line in (root / "Makefile").read_text().splitlines()
        if "##" in line and ":" in line and not line.startswith(("\t", "#", " "))
    }
    assert {"demo", "test", "e2e", "bench"} <= documented
    done = subprocess.run(["make", "-s", "help"], cwd=root, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    listed = {line.split("\t", 1)[0] for line in done.stdout.splitlines()}
    assert listed == documented  # e2e was missing: the pattern did not allow digits


# -- .env -----------------------------------------------------------------------------------------


def test_a_dotenv_file_that_is_not_utf8_is_one_sentence(tmp_path):
    (tmp_path / ".env").write_bytes(b"\xff\xfePUSHER_KEY=k\n")
    done = run_cli(tmp_path, "tail")
    assert done.returncode == 1
    assert one_sentence(done.stderr) == "authviz: .env is not UTF-8 text; write it as NAME=value lines."


def test_a_bad_dotenv_line_is_named_without_echoing_it(tmp_path):
    (tmp_path / ".env").write_text("# settings\nPUSHER_URL=http://k:s@127.0.0.1:1/apps/1\n\nPUSHER_SECRET hunter2\n")
    done = run_cli(tmp_path, "tail")
    assert done.returncode == 1
    assert one_sentence(done.stderr) == "authviz: .env line 4 is not NAME=value; fix or remove it."
    assert "hunter2" not in done.stderr


def test_a_good_dotenv_file_is_still_read(tmp_path):
    from authviz.config import load_environment

    path = tmp_path / ".env"
    path.write_text('# c\nexport PUSHER_KEY=k\nPUSHER_HOST="127.0.0.1"\nPUSHER_URL=\n\nPUSHER_PORT="60\n01"\n')
    values = load_environment({"PUSHER_HOST": "real"}, path)
    assert (values["PUSHER_KEY"], values["PUSHER_HOST"], values["PUSHER_URL"]) == ("k", "real", "")
    assert values["PUSHER_PORT"] == "60\n01"  # a quoted value may span lines


@pytest.mark.parametrize(
    "args, message",
    [
        (["--limit", "0"], "argument --limit: must be a whole number of events, at least 1, not '0'"),
        (["--limit", "-1"], "argument --limit: must be a whole number of events, at least 1, not '-1'"),
        (["--speed", "abc"], "argument --speed: must be a number (1 real time, 10 ten times faster) or max, not 'abc'"),
        (["--speed", "-2"], "argument --speed: must be a number (1 real time, 10 ten times faster) or max, not '-2'"),
    ],
)
def test_tail_flags_out_of_range_name_the_flag(tmp_path, args, message):
    # --limit 0 used to exit 0 at once, printing nothing; --speed abc blamed AUTHVIZ_REPLAY_SPEED
    (tmp_path / "rec.jsonl").write_text("")
    done = run_cli(tmp_path, "tail", "--source", "replay:rec.jsonl", *args, PUSHER_KEY="k", PUSHER_HOST="127.0.0.1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == f"authviz tail: error: {message}"


def test_tail_speed_max_and_limit_still_work(tmp_path):
    record = (
        '{"channel": "auth0", "event": "user-loggedIn", "data": {"email": "a@example.com", '
        '"country": "Canada"}, "timestamp": %d}\n'
    )
    (tmp_path / "rec.jsonl").write_text("".join(record % (1_700_000_000 + 3600 * i) for i in range(3)))
    done = run_cli(
        tmp_path,
        "tail",
        "--source",
        "replay:rec.jsonl",
        "--speed",
        "max",
        "--limit",
        "2",
        PUSHER_KEY="k",
        PUSHER_HOST="127.0.0.1",
    )
    assert done.returncode == 0, done.stderr
    assert [line.split()[1:] for line in done.stdout.splitlines()] == [["login_success", "a@example.com", "Canada"]] * 2


# -- serve: flags checked before anything starts ---------------------------------------------------


@pytest.mark.parametrize("url", ["notaurl", "ftp://example.com/hooks", "http://"])
def test_serve_refuses_a_webhook_url_that_is_not_http(tmp_path, url):
    done = run_cli(tmp_path, "serve", "--port", "0", "--no-bridge", "--webhook-url", url)
    assert done.returncode == 2
    assert one_sentence(done.stderr) == (
        f"authviz: --webhook-url must be an http(s) URL such as http://127.0.0.1:8000/pusher/webhooks, not {url!r}."
    )


def test_serve_config_file_refuses_a_webhook_url_that_is_not_http(tmp_path):
    config = tmp_path / "apps.json"
    config.write_text('{"apps": [{"app_id": "1", "key": "k", "secret": "s", "webhook_url": "nope"}]}')
    done = run_cli(tmp_path, "serve", "--port", "0", "--no-bridge", "--config", str(config))
    assert done.returncode == 1
    assert "apps[0]: webhook_url must be an http(s) URL, not 'nope'." in one_sentence(done.stderr)


@pytest.mark.parametrize(
    "flag, value, where",
    [
        ("--state-dir", "notes.txt", "notes.txt"),  # a file where a directory is needed
        ("--store", "notes.txt/bridge.sqlite3", "notes.txt"),  # the store's directory cannot be made
    ],
)
def test_serve_state_that_cannot_be_made_is_one_sentence(tmp_path, flag, value, where):
    (tmp_path / "notes.txt").write_text("x")
    args = [flag, value] if flag == "--state-dir" else ["--state-dir", "state", flag, value]
    done = run_cli(tmp_path, "serve", "--port", "0", *args)
    assert done.returncode == 1
    line = one_sentence("\n".join(text for text in done.stderr.splitlines() if not text.startswith("authviz bridge:")))
    assert line.startswith(f"authviz: cannot prepare {where}")
    assert line.endswith("; check --state-dir and --store.")


@pytest.mark.parametrize(
    "channel, message",
    [
        ("bad channel!", "channel name 'bad channel!' has characters outside A-Z a-z 0-9 _ - = @ , . ;"),
        ("x" * 200, "channel name is 200 characters; the limit is 164"),
    ],
)
def test_tail_refuses_an_invalid_channel_name_at_once(tmp_path, channel, message):
    # it used to subscribe, be refused by the server, and retry forever
    done = run_cli(
        tmp_path, "tail", "--channel", channel, PUSHER_KEY="k", PUSHER_HOST="127.0.0.1", PUSHER_PORT=str(free_port())
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == f"authviz tail: error: argument --channel: {message}"


# -- pipes ----------------------------------------------------------------------------------------


def test_tail_into_head_stops_quietly(tmp_path):
    # `authviz tail | head -2`: the reader goes away; no BrokenPipeError traceback
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "tail", "--source", "simulator:1", "--speed", "max"],
        cwd=tmp_path,
        env=clean_env(PUSHER_KEY="k", PUSHER_HOST="127.0.0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline() and proc.stdout.readline()
        proc.stdout.close()
        assert proc.wait(20) == 0
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_convert_into_a_closed_pipe_stops_quietly(tmp_path):
    (tmp_path / "in.jsonl").write_bytes(LOG_STREAM_SAMPLE.read_bytes())
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads the summary
    done = subprocess.run(
        [sys.executable, "-m", "authviz", "logs", "convert", "in.jsonl", "-o", "out.parquet"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=write_end,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    os.close(write_end)
    assert done.returncode == 0
    assert done.stderr == b""
    assert (tmp_path / "out.parquet").stat().st_size > 0


# -- Ctrl-C in a batch command is not a success ---------------------------------------------------


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_convert_stopped_by_ctrl_c_is_not_a_success(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_bytes(LOG_STREAM_SAMPLE.read_bytes())
    monkeypatch.setattr(auth0_cli, "read_log_files", _interrupt)
    assert main(["logs", "convert", "in.jsonl", "-o", "out.parquet"]) == 130
    assert capsys.readouterr().err == "authviz: interrupted; nothing was written.\n"
    assert not (tmp_path / "out.parquet").exists()


def test_pull_stopped_by_ctrl_c_is_not_a_success(tmp_path, monkeypatch, capsys):
    from authviz.cli import logs_pull as analytics_cli

    async def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(analytics_cli, "pull_logs", interrupted)
    assert main(["logs", "pull", "--domain", "acme.auth0.com", "--token", "t", "-o", "logs"]) == 130
    assert capsys.readouterr().err == (
        "authviz: interrupted; what was pulled is saved in 'logs': run the same command again to resume.\n"
    )


# -- the README promises only what exists -------------------------------------------------------


def _readme() -> str:
    return (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    return {" ".join(path): parser for path, parser in _all_commands(build_parser())}


def test_every_flag_in_the_readme_command_table_exists():
    import re

    parsers = _command_parsers()
    every_option = {o for parser in parsers.values() for action in parser._actions for o in action.option_strings}
    rows = [line for line in _readme().splitlines() if line.startswith("| `authviz ")]
    assert len(rows) >= 8
    for row in rows:
        command_cell = row.split("`")[1]  # e.g. authviz serve [--host H] ...
        words = command_cell.split()[1:]
        name = next(" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in parsers)
        options = {o for action in parsers[name]._actions for o in action.option_strings}
        for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", command_cell)):
            assert flag in options, f"README names `authviz {name} {flag}`, which does not exist"
        # the description may name another command's flag (`token`: "a server started with
        # --dev-identity"), but never one that no command has
        description = row.split("|")[2]
        for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", description)):
            assert flag in options or flag in every_option, f"README names {flag}, which no command has"


def test_every_setting_in_the_readme_is_read_somewhere():
    import re

    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (Path(__file__).resolve().parent.parent / "authviz").rglob("*.py")
    )
    settings = set(re.findall(r"`((?:PUSHER|AUTHVIZ|AUTH0)_[A-Z_]+)`", _readme()))
    assert {"PUSHER_URL", "PUSHER_TLS", "AUTHVIZ_SOURCE", "AUTHVIZ_HISTORY_URL"} <= settings
    # PUSHER_USE_TLS is a secret of the Auth0 Action (JavaScript), not of the package
    action = (Path(__file__).resolve().parent.parent / "auth0" / "actions" / "post-login-pusher.js").read_text()
    for name in sorted(settings):
        assert name in source or name in action, f"README documents {name}, which nothing reads"
