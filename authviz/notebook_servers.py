"""The Jupyter servers the demo and ``authviz dashboard`` start: JupyterLab and the Voilà dashboard.

- :func:`working_copy` makes the notebooks people open and save: a copy of the shipped notebooks in
  the state directory (made when missing, kept across runs, reset on request), so saving never
  changes a tracked file.
- :func:`port_owner` says in a few words what already answers on a port (another demo's hub, a
  Jupyter server...), so a second demo refuses at once instead of sharing someone else's server.
- :class:`NotebookServer` starts one server (JupyterLab, or a Jupyter server with only Voilà and the
  authviz static route: the dashboard), keeps its log in the state directory, and reports ready
  only when the server answers; a failure carries the tail of its log.

Nothing here reads the environment: callers pass the variables the kernels get.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from authviz.errors import AuthvizError

__all__ = ["DASHBOARD", "NotebookServer", "log_tail", "port_owner", "run_dashboard", "stop_server", "working_copy"]

#: The dashboard notebook, served by Voilà.
DASHBOARD = "00_dashboard.ipynb"
#: authviz's static assets (the Voila template, the world topology); not imported from
#: authviz.widgets, which would load ipywidgets into the demo's process
ASSETS_DIR = Path(__file__).resolve().parent / "widgets" / "assets"
#: Files of the shipped notebooks folder that belong in the working copy.
SHIPPED = ("*.ipynb", "README.md")


def working_copy(source: Path, dest: Path, *, reset: bool = False) -> list[str]:
    """Copy the shipped notebooks from ``source`` into ``dest``; returns the names copied.

    A notebook already in ``dest`` is kept (people's edits survive restarts) unless ``reset``, which
    replaces every shipped file with the shipped version (other files in ``dest`` are left alone).
    """
    if not source.is_dir():
        raise AuthvizError(f"the notebooks folder {source} does not exist.")
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for pattern in SHIPPED:
        for path in sorted(source.glob(pattern)):
            target = dest / path.name
            if reset or not target.exists():
                shutil.copyfile(path, target)
                copied.append(path.name)
    return copied


def port_owner(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> str | None:
    """``None`` when nothing listens on ``host:port``, else a few words naming what answers there."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError:
        return None
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=timeout) as response:
            server = response.headers.get("Server", "")
            body = response.read(300).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        server, body = error.headers.get("Server", ""), ""
    except (OSError, ValueError):
        return "a program that does not speak HTTP"
    if body.startswith("authviz hub"):
        return "an authviz hub (another demo or `authviz serve`)"
    if "jupyter" in body.lower() or "voila" in body.lower() or "TornadoServer" in server:
        return "a Jupyter server (another demo's JupyterLab or dashboard?)"
    return f"a web server{f' ({server})' if server else ''}"


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ("" when it is missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _quiet_lab_options() -> list[str]:
    """No news pop-up, no update check, no extension manager calls: nothing beyond loopback."""
    return [
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]


@dataclass
class NotebookServer:
    """One Jupyter server child: ``kind`` is ``"lab"`` (JupyterLab) or ``"dashboard"`` (Voilà)."""

    kind: str
    root: Path
    port: int
    log_path: Path
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return "JupyterLab" if self.kind == "lab" else "the dashboard"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """What a person opens (with the token)."""
        path = "/lab" if self.kind == "lab" else f"/voila/render/{DASHBOARD}"
        return f"{self.base}{path}?token={self.token}"

    def command(self) -> list[str]:
        common = [
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.open_browser=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            common.append("--ServerApp.allow_root=True")  # containers often run as root
        if self.kind == "lab":
            return [
                sys.executable,
                "-m",
                "jupyterlab",
                *common,
                *_quiet_lab_options(),
                f"--LabApp.user_settings_dir={self.settings_dir}",
                f"--LabApp.workspaces_dir={self.settings_dir.parent / 'lab-workspaces'}",
            ]
        if self.kind == "dashboard":
            # a plain Jupyter server with only Voilà and authviz's static route (the offline map):
            # no JupyterLab, no terminals; a kernel per page, culled an hour after its page went away
            extensions = {
                "voila": True,
                "authviz.widgets.serverext": True,
                "jupyterlab": False,
                "jupyter_lsp": False,
                "jupyter_server_terminals": False,
                "notebook_shim": False,
            }
            return [
                sys.executable,
                "-m",
                "jupyter_server",
                *common,
                f"--ServerApp.jpserver_extensions={extensions!r}",
                f"--ServerApp.default_url=/voila/render/{DASHBOARD}",
                # offline: our template (no CDN stylesheets), no MathJax from a CDN
                "--VoilaConfiguration.template=authviz",
                "--ServerApp.tornado_settings={'mathjax_url': '/authviz/static/no-mathjax.js'}",
                "--VoilaConfiguration.show_tracebacks=False",
                "--MappingKernelManager.cull_idle_timeout=3600",
                "--MappingKernelManager.cull_interval=300",
            ]
        raise ValueError(f"kind must be 'lab' or 'dashboard', not {self.kind!r}")

    @property
    def settings_dir(self) -> Path:
        """JupyterLab's settings, kept beside the log (the news and update pop-ups answered "no")."""
        return self.log_path.parent / "lab-settings"

    def _write_quiet_settings(self) -> None:
        path = self.settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}, indent=2) + "\n")

    def start(self, env: dict[str, str]) -> NotebookServer:
        """Start the server; its output goes to :attr:`log_path` (kept in the state directory)."""
        if self.kind == "dashboard":  # where Voila finds the authviz template
            env = {
                **env,
                "JUPYTER_PATH": os.pathsep.join(p for p in (str(ASSETS_DIR), env.get("JUPYTER_PATH", "")) if p),
            }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "lab":
            self._write_quiet_settings()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2) as response:
                return response.status == 200
        except (OSError, ValueError):
            return False

    def failure(self, what: str) -> AuthvizError:
        tail = log_tail(self.log_path)
        shown = f"\nthe last lines of its log ({self.log_path}):\n{tail}" if tail else f" (log: {self.log_path})"
        return AuthvizError(f"{self.name} {what}{shown}")

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Return when the server answers; raise with the tail of its log if it stops or times out."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise self.failure(f"stopped at start (exit {self.proc.returncode})")
            if time.monotonic() > deadline:
                raise self.failure(f"did not answer on {self.base} within {timeout:g} s")
            time.sleep(0.25)


def stop_server(server: NotebookServer, timeout: float = 10.0) -> None:
    """SIGTERM the server (our own child, by pid), SIGKILL after ``timeout`` s."""
    proc = server.proc
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def run_dashboard(
    *,
    notebooks: Path,
    state_dir: Path,
    port: int,
    env: dict[str, str],
    reset: bool = False,
    start_timeout: float = 90.0,
    say=print,
) -> int:
    """Serve only the dashboard (``authviz dashboard``) until Ctrl-C; returns 0.

    ``env`` is what its kernels get (Pusher settings for remote mode; without them each page runs
    the embedded hub with simulated traffic). Raises :class:`AuthvizError` (one sentence, plus the
    log's tail when the server fails) when the port is taken or the server stops.
    """
    owner = port_owner(port)
    if owner is not None:
        raise AuthvizError(
            f"The dashboard cannot listen on 127.0.0.1:{port}: it is in use by {owner}; "
            "stop that, or choose another port."
        ).naming("port")
    workdir = state_dir / "notebooks"
    working_copy(notebooks, workdir, reset=reset)
    if not (workdir / DASHBOARD).exists():
        raise AuthvizError(f"{workdir / DASHBOARD} is missing; reset the working copy (reset_notebooks).").naming(
            "reset_notebooks"
        )
    server = NotebookServer("dashboard", workdir, port, state_dir / "dashboard.log")
    try:
        server.start(dict(env))
        server.wait_ready(start_timeout)
        say(f"authviz dashboard: {server.url}")
        say(f"  notebooks {workdir}, log {server.log_path}; Ctrl-C stops it.")
        assert server.proc is not None
        code = server.proc.wait()
        raise server.failure(f"stopped unexpectedly (exit {code})")
    except KeyboardInterrupt:
        return 0
    finally:
        stop_server(server)
