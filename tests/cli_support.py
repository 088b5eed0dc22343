"""Running ``authviz`` as a user does, for tests: a child process with a clean environment, its
output read line by line, and the one-sentence error check."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

# Settings a developer may have exported; a test's child sees only what the test gives it.
SETTING_PREFIXES = ("PUSHER_", "AUTHVIZ_", "AUTH0_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def run_cli(cwd: Path, *args: str, timeout: float = 40, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "authviz", *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_sentence(stderr: str, ignore: tuple[str, ...] = ()) -> str:
    """The single ``authviz: ...`` line of a failed command (no traceback, no usage dump)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(ignore)]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("authviz: "), stderr
    return lines[0]


def lines_of(stream) -> queue.Queue:
    """A queue fed with ``stream``'s lines by a daemon thread; ``None`` marks the end."""
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q
