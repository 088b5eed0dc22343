"""Start ``authviz demo`` as a person does and find its URLs in what it prints (for the e2e tests
and the browser benchmark)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_command(hub: int, lab: int, board: int, state: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "authviz",
        "demo",
        "--port",
        str(hub),
        "--jupyter-port",
        str(lab),
        "--dashboard-port",
        str(board),
        "--state-dir",
        str(state),
        "--no-install",
        *extra,
    ]


class Demo:
    """A running ``authviz demo``; :attr:`lines` collects its output as it comes."""

    def __init__(self, command: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "AUTHVIZ_", "JUPYTER"))}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def url(self, label: str, timeout: float = 180.0) -> str:
        """The URL printed after ``label`` (``JupyterLab`` or ``dashboard``), once it is printed."""
        deadline = time.monotonic() + timeout
        pattern = re.compile(rf"^\s+{label}\s+(http://\S+)")
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = pattern.match(line)
                if match:
                    return match.group(1)
            if self.proc.poll() is not None:
                raise AssertionError("the demo stopped:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.1)
        raise AssertionError(f"the demo printed no {label} URL:\n" + "\n".join(self.lines[-30:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        return self.proc.returncode
