"""Issue #11, items 3 and 6: no well-known secret, and private state (0700 directory, 0600 files,
no symlink followed, looser modes tightened with a notice). Real `authviz serve` processes."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pusher
import pytest

from authviz.bridge.serve import ensure_log_token
from authviz.hub import running_hub
from authviz.hub.credentials import app_secret
from authviz.statefiles import StateFileError, private_dir, read_or_create_secret

from bridge_support import bridge_hub, post_logs, record

OLD_CONSTANT = "authviz-secret"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _serve(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "AUTHVIZ_"))}
    environment.update(PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "authviz", "serve", "--port", "0", "--state-dir", "state", *args],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("PUSHER_ENV_FILE="), (line, proc.stderr.read() if proc.poll() else "")
    return proc, line


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return out, err


def _url(tmp_path: Path) -> str:
    text = (tmp_path / "state" / "pusher.env").read_text()
    return text.splitlines()[0].split("=", 1)[1]


# -- item 3: no well-known secret -------------------------------------------------------------


def test_serve_generates_a_private_secret_and_never_prints_it(tmp_path):
    proc, first = _serve(tmp_path)
    try:
        secret_file = tmp_path / "state" / "app-secret"
        secret = secret_file.read_text().strip()
        assert len(secret) >= 40 and secret != OLD_CONSTANT
        assert _mode(secret_file) == 0o600 and _mode(tmp_path / "state" / "pusher.env") == 0o600
        url = _url(tmp_path)
        assert f":{secret}@" in url
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        # the old constant signs nothing; the generated secret does
        forged = pusher.Pusher(
            app_id="1", key="authviz-key", secret=OLD_CONSTANT, host="127.0.0.1", port=port, ssl=False
        )
        with pytest.raises(pusher.errors.PusherError):
            forged.trigger("news", "x", "y")
        pusher.Pusher(app_id="1", key="authviz-key", secret=secret, host="127.0.0.1", port=port, ssl=False).trigger(
            "news", "x", "y"
        )
    finally:
        out, err = _stop(proc)
    assert secret not in first + out + err
    assert "pusher.env" in err
    # a restart keeps the secret (clients keep working)
    proc, _ = _serve(tmp_path)
    _stop(proc)
    assert secret_file.read_text().strip() == secret


def test_secret_from_a_file_or_pusher_secret(tmp_path):
    given = tmp_path / "secret.txt"
    given.write_text("from-a-file-0123456789\n")
    proc, _ = _serve(tmp_path, "--secret-file", str(given))
    try:
        assert ":from-a-file-0123456789@" in _url(tmp_path)
    finally:
        _stop(proc)
    proc, _ = _serve(tmp_path, env={"PUSHER_SECRET": "from-the-environment"})
    try:
        assert ":from-the-environment@" in _url(tmp_path)
    finally:
        out, err = _stop(proc)
    assert "from-the-environment" not in out + err


def test_in_process_hubs_get_random_secrets():
    with running_hub() as a, running_hub() as b:
        assert a.app.secret != b.app.secret and OLD_CONSTANT not in (a.app.secret, b.app.secret)
        assert len(a.app.secret) >= 40


def test_app_secret_resolution(tmp_path):
    assert app_secret(tmp_path, secret="given") == ("given", "the given secret")
    generated, where = app_secret(tmp_path / "s")
    assert where == str(tmp_path / "s" / "app-secret") and app_secret(tmp_path / "s")[0] == generated
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(StateFileError, match="empty"):
        app_secret(tmp_path, secret_file=empty)


# -- item 6: private state ----------------------------------------------------------------------


def test_the_state_directory_and_every_file_in_it_are_private(tmp_path):
    state = tmp_path / "state"
    with bridge_hub(state, "--dev-identity") as hub:
        assert post_logs(hub.url, [record(1)])[0] == 200
        hub.drain()
        files = sorted(p.name for p in state.iterdir())
        assert {"bridge.sqlite3", "bridge.sqlite3-wal", "bridge.sqlite3-shm", "dev-identity.pem"} <= set(files), files
        assert _mode(state) == 0o700
        for path in state.iterdir():
            assert _mode(path) == 0o600, (path.name, oct(_mode(path)))


def test_looser_modes_are_tightened_with_a_notice(tmp_path, caplog):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    token = state / "log-token"
    token.write_text("kept-token\n")
    os.chmod(token, 0o644)
    store = state / "bridge.sqlite3"
    with caplog.at_level(logging.WARNING, logger="authviz.statefiles"):
        assert ensure_log_token(private_dir(state), None) == "kept-token"
        with bridge_hub(state):
            pass
    assert _mode(state) == 0o700 and _mode(token) == 0o600 and _mode(store) == 0o600
    notices = " ".join(r.getMessage() for r in caplog.records)
    assert "tightened to 0700" in notices and "tightened to 0600" in notices
    assert "kept-token" not in notices


def test_a_planted_symlink_is_never_followed(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    target = tmp_path / "victim"
    target.write_text("do not touch\n")
    before = _mode(target)
    os.symlink(target, state / "log-token")
    with pytest.raises(StateFileError, match="symbolic link"):
        ensure_log_token(state, None)
    os.symlink(target, state / "app-secret")
    with pytest.raises(StateFileError, match="symbolic link"):
        read_or_create_secret(state / "app-secret")
    assert target.read_text() == "do not touch\n" and _mode(target) == before
    linked = tmp_path / "linked-state"
    os.symlink(state, linked)
    with pytest.raises(StateFileError, match="symbolic link"):
        private_dir(linked)


def test_serve_with_a_symlinked_store_says_one_sentence(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (tmp_path / "elsewhere.db").write_text("")
    os.symlink(tmp_path / "elsewhere.db", state / "bridge.sqlite3")
    done = subprocess.run(
        [sys.executable, "-m", "authviz", "serve", "--port", "0", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "symbolic link" in done.stderr and "Traceback" not in done.stderr
