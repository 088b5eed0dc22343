"""``authviz demo``: the whole system on one machine, offline, stopped by one Ctrl-C (or SIGTERM).

Children (each started by this process and stopped by its own pid, never by name):

1. ``authviz serve --dev-identity`` (hub + bridge + dev identity) on ``port``;
2. ``authviz simulate`` posting through the real webhook;
3. JupyterLab and the Voilà dashboard (``00_dashboard.ipynb``) on a working copy of the notebooks
   in ``STATE_DIR/notebooks`` (made from ``notebooks/`` when missing, kept across runs, replaced by
   ``reset_notebooks``), so saving never changes a tracked file (installs the ``notebooks`` extra
   first when JupyterLab is missing, unless ``--no-install``; when that fails, e.g. offline, the
   demo goes on without them). Their logs are kept in ``STATE_DIR/jupyterlab.log`` and
   ``STATE_DIR/dashboard.log``; their URLs are printed once they answer.

Every port is checked before anything starts: one in use stops the demo at once with one sentence
naming what answers there (another demo's hub, a Jupyter server...).

The notebooks find the hub through the environment given to JupyterLab (and printed):
``PUSHER_URL``, ``PUSHER_APP_ID``, ``PUSHER_KEY``, ``PUSHER_SECRET``, ``PUSHER_HOST``,
``PUSHER_PORT``, ``PUSHER_TLS``, ``PUSHER_AUTH_ENDPOINT``, ``PUSHER_USER_AUTH_ENDPOINT``,
``PUSHER_AUTH_TOKEN`` (a dev token for the demo user), ``AUTHVIZ_BRIDGE_URL``,
``AUTHVIZ_LOG_TOKEN``.

Invariants: every child is stopped (SIGTERM, then SIGKILL after ``stop_timeout``) whatever ends the
demo: Ctrl-C, SIGTERM (``kill``, ``make`` stopped, a service manager), ``--for``, or a child that
stopped on its own (the demo then stops the rest and fails with one sentence, exit 1).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from authviz.bridgeclient import BridgeClient
from authviz.config import process_environment
from authviz.errors import AuthvizError, SettingError
from authviz.hub.credentials import app_secret
from authviz.notebook_servers import DASHBOARD, NotebookServer, working_copy
from authviz.statefiles import private_dir
from authviz.topics import READ_EVENTS_PERMISSION

from .serve import ensure_log_token

__all__ = ["DemoOptions", "demo_environment", "run"]

APP_ID, KEY = "1", "authviz-key"


@dataclass
class DemoOptions:
    port: int = 6001
    jupyter_port: int = 8888
    dashboard_port: int = 8866
    rate: float = 3.0
    seed: int = 0
    scenarios: tuple[str, ...] = ()
    user: str = "alice"
    state_dir: Path = Path(".authviz")
    notebooks: Path = Path("notebooks")
    jupyter: bool = True
    dashboard: bool = True
    #: replace the working copy's notebooks with the shipped ones (edits there are lost)
    reset_notebooks: bool = False
    simulator: bool = True
    install: bool = True
    run_for: float | None = None
    start_timeout: float = 30.0
    #: how long each child may take to stop after SIGTERM before it is killed (seconds)
    stop_timeout: float = 10.0
    #: the log-stream token (None: the one kept in the state directory, made once)
    log_token: str | None = None

    def validate(self) -> None:
        """Raise :class:`SettingError` for options no child could run with (checked before any starts)."""
        from authviz.simulator import SCENARIOS

        for name in self.scenarios:
            if name not in SCENARIOS:
                raise SettingError(
                    f"scenario {name!r} is not a scenario; choose from {', '.join(SCENARIOS)}.", "scenario"
                )
        ports = (("port", self.port), ("jupyter_port", self.jupyter_port), ("dashboard_port", self.dashboard_port))
        for setting, port in ports:
            if not 1 <= port <= 65535:
                raise SettingError(f"{setting} must be from 1 to 65535, not {port}.", setting)
        used = [port for _setting, port in ports]
        if len(set(used)) != len(used):
            raise SettingError(f"the hub, JupyterLab and the dashboard need three different ports, not {used}.", "port")
        if not self.rate > 0:
            raise SettingError(f"rate must be a positive number of events per second, not {self.rate:g}.", "rate")
        if self.run_for is not None and not self.run_for > 0:
            raise SettingError(f"run_for must be a positive number of seconds, not {self.run_for:g}.", "run_for")


def demo_environment(port: int, log_token: str, user_token: str, secret: str) -> dict[str, str]:
    """The variables the notebooks and the live client read to find the demo hub."""
    base = f"http://127.0.0.1:{port}"
    return {
        "PUSHER_URL": f"http://{KEY}:{quote(secret, safe='')}@127.0.0.1:{port}/apps/{APP_ID}",
        "PUSHER_APP_ID": APP_ID,
        "PUSHER_KEY": KEY,
        "PUSHER_SECRET": secret,
        "PUSHER_HOST": "127.0.0.1",
        "PUSHER_PORT": str(port),
        "PUSHER_TLS": "false",
        "PUSHER_AUTH_ENDPOINT": base + "/pusher/auth",
        "PUSHER_USER_AUTH_ENDPOINT": base + "/pusher/user-auth",
        "PUSHER_AUTH_TOKEN": user_token,
        "AUTHVIZ_BRIDGE_URL": base,
        "AUTHVIZ_LOG_TOKEN": log_token,
    }


#: Variables never printed (they are written to STATE_DIR/demo.env, mode 0600).
SECRET_VARIABLES = frozenset({"PUSHER_URL", "PUSHER_SECRET", "PUSHER_AUTH_TOKEN", "AUTHVIZ_LOG_TOKEN"})


def _write_env_file(state_dir: Path, env: dict[str, str]) -> Path:
    path = private_dir(state_dir) / "demo.env"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in env.items())
    os.replace(tmp, path)  # a planted symlink is replaced, never written through
    return path


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _wait_ready(url: str, token: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    bridge = BridgeClient(url, bearer=token)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AuthvizError(
                f"authviz serve stopped at start (exit {proc.returncode}); is port "
                f"{url.rsplit(':', 1)[-1].split('/')[0]} free? (choose another port)"
            ).naming("port")
        if bridge.ready(timeout=1.0):
            return
        time.sleep(0.2)
    raise AuthvizError(f"authviz serve did not answer on {url} within {timeout:g} s.")


def check_ports_free(options: DemoOptions) -> None:
    """Raise :class:`AuthvizError` (one sentence) when a port the demo needs already answers."""
    from authviz.notebook_servers import port_owner

    wanted = [("port", options.port, "The hub")]
    if options.jupyter:
        wanted.append(("jupyter_port", options.jupyter_port, "JupyterLab"))
        if options.dashboard:
            wanted.append(("dashboard_port", options.dashboard_port, "the dashboard"))
    for setting, port, what in wanted:
        owner = port_owner(port)
        if owner is not None:
            raise AuthvizError(
                f"{what} cannot listen on 127.0.0.1:{port}: it is in use by {owner}; stop "
                f"that, or choose another {setting}."
            ).naming(setting)


def notebooks_copy(options: DemoOptions) -> Path:
    """The working copy of the notebooks the demo serves (``STATE_DIR/notebooks``)."""
    return options.state_dir / "notebooks"


def _has_jupyterlab() -> bool:
    return importlib.util.find_spec("jupyterlab") is not None


def _install_notebooks_extra() -> bool:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists():
        return False
    _say("JupyterLab is not installed: installing the notebooks extra (pip install -e '.[notebooks]')...")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{root}[notebooks]"],
        check=False,
    )
    importlib.invalidate_caches()
    return result.returncode == 0 and _has_jupyterlab()


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]], timeout: float = 10.0) -> None:
    """SIGTERM each child (newest first), wait up to ``timeout`` s, then SIGKILL what is left.
    Only our own children, by pid."""
    for _name, proc in reversed(children):
        if proc.poll() is None:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for name, proc in reversed(children):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{name} did not stop; killing it (pid {proc.pid})")
            proc.kill()
            proc.wait(timeout=5)


def _exit_status(code: int) -> str:
    """``exit 1``, or ``killed by SIGKILL`` for a negative Popen return code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


class _Terminated(Exception):
    """SIGTERM arrived: stop the children and exit 0 like Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def run(options: DemoOptions) -> int:
    """Start everything, print where it is, wait for Ctrl-C, SIGTERM (or ``run_for``), stop
    everything. Returns 0; raises :class:`AuthvizError` when a child stopped on its own (the
    others are stopped first)."""
    options.validate()
    check_ports_free(options)
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if on_main else None
    try:
        return _run(options)
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _run(options: DemoOptions) -> int:
    from .devidentity import DEFAULT_AUDIENCE, KEY_FILE, DevIdentity, mint_token, read_dev_settings
    from .identity import normalise_issuer

    authviz = [sys.executable, "-m", "authviz"]
    state = str(options.state_dir)
    log_token = ensure_log_token(options.state_dir, options.log_token)
    # the app secret generated once into STATE_DIR/app-secret, handed to the server through its
    # environment (never argv: the process list shows it)
    secret, _source = app_secret(options.state_dir)
    base = f"http://127.0.0.1:{options.port}"
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    child_env = process_environment(AUTHVIZ_LOG_TOKEN=log_token, PUSHER_SECRET=secret, PYTHONUNBUFFERED="1")
    try:
        # The notebooks' token is minted before the server answers (same key file and issuer as
        # `authviz serve --dev-identity` on this port), so JupyterLab and the dashboard start
        # alongside the server: they are the slow part of a start.
        DevIdentity.load_or_create(options.state_dir / KEY_FILE)  # the key the server will load
        issuer = normalise_issuer(f"{base}/")
        # the notebook user reads the event feed and its history: read:auth_events
        user_token = mint_token(
            options.user,
            state_dir=options.state_dir,
            issuer=issuer,
            audience=DEFAULT_AUDIENCE,
            permissions=[READ_EVENTS_PERMISSION],
        )
        env = demo_environment(options.port, log_token, user_token, secret)
        serve = subprocess.Popen(
            # --public-feed: the tutorial's React feed and notebook 01 read it; loopback only
            [
                *authviz,
                "serve",
                "--dev-identity",
                "--port",
                str(options.port),
                "--state-dir",
                state,
                "--app-id",
                APP_ID,
                "--key",
                KEY,
                "--public-feed",
            ],
            env=child_env,
            stdout=subprocess.DEVNULL,
        )
        children.append(("authviz serve", serve))

        servers: list[NotebookServer] = []
        if options.jupyter:
            if not _has_jupyterlab() and not (options.install and _install_notebooks_extra()):
                _say(
                    "JupyterLab is not available (install the notebooks extra: "
                    "pip install -e '.[notebooks]'); going on without it."
                )
            else:
                workdir = notebooks_copy(options)
                copied = working_copy(options.notebooks, workdir, reset=options.reset_notebooks)
                if copied:
                    _say(
                        f"copied {len(copied)} notebooks into {workdir} (your working copy; "
                        "saving there changes no tracked file)"
                    )
                kernel_env = {**child_env, **env}
                if options.dashboard and (workdir / DASHBOARD).exists():
                    servers.append(
                        NotebookServer(
                            "dashboard", workdir, options.dashboard_port, options.state_dir / "dashboard.log"
                        )
                    )
                servers.append(
                    NotebookServer("lab", workdir, options.jupyter_port, options.state_dir / "jupyterlab.log")
                )
                for server in servers:
                    server.start(kernel_env)
                    children.append((server.name, server.proc))

        _wait_ready(base, log_token, serve, options.start_timeout)
        if (read_dev_settings(options.state_dir) or {}).get("issuer") != issuer:
            raise AuthvizError(
                f"the demo's server records another issuer than {issuer}; the notebooks' token would be refused."
            )

        if options.simulator:
            cmd = [
                *authviz,
                "simulate",
                "--target",
                base + "/auth0/logs",
                "--rate",
                str(options.rate),
                "--seed",
                str(options.seed),
                "--no-progress",
            ]
            for name in options.scenarios:
                cmd += ["--scenario", name]
            children.append(("authviz simulate", subprocess.Popen(cmd, env=child_env)))

        _say("")
        _say("authviz demo is running:")
        _say(f"  hub + bridge   {base}  (websocket {base.replace('http', 'ws')}/app/{KEY})")
        _say(f"  log stream     POST {base}/auth0/logs  (token in {options.state_dir}/log-token)")
        _say(f"  history        GET  {base}/auth0/events?after=0&limit=100")
        if servers:
            _say(
                f"  notebooks      {notebooks_copy(options)}  (your copy, kept; delete it to start again; "
                f"logs: {options.state_dir}/jupyterlab.log, dashboard.log)"
            )
        env_file = _write_env_file(options.state_dir, env)
        # each URL is printed once its server answers (the dashboard usually first)
        _announce_when_ready(servers, options.start_timeout * 3)
        _say("environment for notebooks and scripts (secrets only in the file):")
        for name, value in env.items():
            shown = "(see file)" if name in SECRET_VARIABLES else value
            print(f"  {name}={shown}", flush=True)
        _say(f"  all of it: set -a; . {env_file}; set +a")
        _say("Ctrl-C stops everything.")

        deadline = None if options.run_for is None else time.monotonic() + options.run_for
        while deadline is None or time.monotonic() < deadline:
            for name, proc in children:
                if proc.poll() is not None:
                    # every child runs until the demo stops it: one that stopped is a failure
                    server = next((s for s in servers if s.proc is proc), None)
                    if server is not None:
                        raise server.failure(
                            f"stopped unexpectedly ({_exit_status(proc.returncode)}); the demo stopped the rest."
                        )
                    raise AuthvizError(
                        f"{name} stopped unexpectedly ({_exit_status(proc.returncode)}); the demo stopped the rest."
                    )
            time.sleep(0.2)
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        # a second Ctrl-C or SIGTERM must not cut the clean-up short (the kill timeout bounds it)
        ignored = _ignore_stop_signals()
        try:
            _say("stopping the demo...")
            _stop(children, options.stop_timeout)
        finally:
            _restore(ignored)
    return 0


def _announce_when_ready(servers: list[NotebookServer], timeout: float) -> None:
    """Print each server's URL as soon as it answers; raise (with its log's tail) if one fails."""
    waiting = list(servers)
    deadline = time.monotonic() + timeout
    while waiting:
        for server in list(waiting):
            if server.ready():
                _say(f"  {'JupyterLab' if server.kind == 'lab' else 'dashboard':<14} {server.url}")
                waiting.remove(server)
            elif server.proc is not None and server.proc.poll() is not None:
                raise server.failure(f"stopped at start (exit {server.proc.returncode})")
            elif time.monotonic() > deadline:
                raise server.failure(f"did not answer on {server.base} within {timeout:g} s")
        time.sleep(0.2)


def _ignore_stop_signals() -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(handlers: dict[int, object]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)  # type: ignore[arg-type]
