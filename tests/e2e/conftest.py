"""``make e2e``: JupyterLab and the Voila dashboard headless + Debian's chromium driven by
Playwright's Python package.

Session fixtures start, on free loopback ports:
- the embedded hub with the bridge and a dev identity (``LocalHub``), standing in for ``make demo``;
- JupyterLab with a token, on a temporary copy of the notebooks, whose kernels get the environment
  ``make demo`` gives (``PUSHER_URL``, ``PUSHER_AUTH_ENDPOINT``, ``PUSHER_AUTH_TOKEN``,
  ``AUTHVIZ_BRIDGE_URL``, ``AUTHVIZ_LOG_TOKEN``): the notebooks run in "remote" mode against it;
- chromium (``/usr/bin/chromium``, never a downloaded browser) that may reach 127.0.0.1 only:
  every other request is aborted and recorded, so the map must draw offline.
- ``traffic``: ordinary simulated traffic (a few events per second, real time) posted to that hub
  for the whole session, as the demo's simulator does, so "still live after Run All" can be seen;
- the Voila dashboard (``dashboard``) on the same copy and environment.
Screenshots go to ``artifacts/e2e/``; timings to ``artifacts/e2e/timings.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = os.environ.get("AUTHVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LAB_START_TIMEOUT = 90.0

# Only `make e2e` (which sets AUTHVIZ_E2E=1) runs the browser tests; `make test` does not collect them.
if os.environ.get("AUTHVIZ_E2E") != "1":
    collect_ignore = ["test_notebooks_in_browser.py", "test_demo_in_browser.py"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def hub():
    from authviz.widgets.local import LocalHub

    hub = LocalHub().start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def traffic(hub):
    """Post ordinary simulated traffic (4 events/s, stamped with the real time) until the session ends."""
    import threading
    from datetime import datetime, timezone

    from authviz.simulator import TrafficGenerator

    stop = threading.Event()
    sent = [0]

    def post() -> None:
        records = TrafficGenerator(seed=99, start=datetime.now(timezone.utc), rate_per_s=4, diurnal=False).generate()
        while not stop.wait(0.5):
            batch = [next(records), next(records)]
            body = "\n".join(json.dumps(r) for r in batch).encode()
            request = urllib.request.Request(
                hub.url + "/auth0/logs",
                data=body,
                method="POST",
                headers={"Authorization": hub.log_token, "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10):
                    sent[0] += len(batch)
            except OSError:
                pass

    thread = threading.Thread(target=post, name="e2e-traffic", daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def timings():
    """Measured durations (seconds) by name, written to artifacts/e2e/timings.json at the end."""
    found: dict[str, float] = {}
    yield found
    if found:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "timings.json").write_text(json.dumps(found, indent=2) + "\n")


def _dev_token(hub, user: str) -> str:
    # the notebook user reads the event feed and its history: read:auth_events (issue #11)
    body = urllib.parse.urlencode({"user": user, "permission": "read:auth_events"}).encode()
    with urllib.request.urlopen(urllib.request.Request(hub.url + "/dev/token", data=body), timeout=10) as r:
        return json.loads(r.read())["access_token"]


def _prepare_copies(root: Path) -> None:
    """The notebooks run as shipped; the second chat participant is the documented way: a duplicate
    of 03_chat.ipynb (its own kernel) with ``CHAT_AS = "bob"``."""
    import nbformat

    nb = nbformat.read(root / "03_chat.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("CHAT_AS = None", 'CHAT_AS = "bob"')
    nbformat.write(nb, root / "03_chat_bob.ipynb")


#: the environment the lab's kernels get (set by the ``lab`` fixture; the dashboard's kernels get it too)
lab_env: dict = {}


@pytest.fixture(scope="session")
def dashboard(lab):
    """The Voila dashboard on the lab's copy of the notebooks, with the same environment; yields its URL."""
    from authviz.notebook_servers import NotebookServer

    _url, _token, root = lab
    server = NotebookServer("dashboard", root, _free_port(), root / ".state" / "dashboard.log")
    server.start(lab_env["env"])
    try:
        server.wait_ready(LAB_START_TIMEOUT)
        yield server.url
    finally:
        if server.proc.poll() is None:
            server.proc.terminate()
            try:
                server.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait(timeout=10)
        if ARTIFACTS.exists() and server.log_path.exists():
            shutil.copy(server.log_path, ARTIFACTS / "dashboard.log")


@pytest.fixture(scope="session")
def lab(hub, tmp_path_factory):
    """JupyterLab on a copy of the notebooks; yields (base_url, token, root_dir)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make e2e` installs Debian's chromium (apt-get install chromium)")
    root = tmp_path_factory.mktemp("lab")
    for nb in sorted((ROOT / "notebooks").glob("0[0-4]_*.ipynb")):
        shutil.copy(nb, root / nb.name)
    _prepare_copies(root)
    # JupyterLab's settings as the demo writes them: no news pop-up, no update check
    from authviz.notebook_servers import NotebookServer

    NotebookServer("lab", root, 0, root / "lab.log")._write_quiet_settings()  # -> root/lab-settings
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHER_", "AUTHVIZ_", "JUPYTER"))}
    base = hub.url
    env.update(
        {
            "PUSHER_URL": hub.pusher_url,
            "PUSHER_AUTH_ENDPOINT": base + "/pusher/auth",
            "PUSHER_AUTH_TOKEN": _dev_token(hub, "alice"),
            "AUTHVIZ_BRIDGE_URL": base,
            "AUTHVIZ_LOG_TOKEN": hub.log_token,
            "JUPYTER_CONFIG_DIR": str(root / ".jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(root / ".jupyter-runtime"),
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",
        f"--IdentityProvider.token={token}",
        "--LabApp.extension_manager=readonly",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions={'authviz.widgets.serverext': True}",
        f"--LabApp.workspaces_dir={root / '.workspaces'}",
        f"--LabApp.user_settings_dir={root / 'lab-settings'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--MappingKernelManager.cull_idle_timeout=0",
    ]
    log = (root / "lab.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + LAB_START_TIMEOUT
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start; its log:\n{(root / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        lab_env["env"] = env
        yield url, token, root
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own process group: the server and its kernels
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()
        shutil.copy(root / "lab.log", ARTIFACTS / "lab.log") if ARTIFACTS.exists() else None


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Offline:
    """Aborts every request that does not go to 127.0.0.1 and remembers it."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.local: list[tuple[str, int]] = []

    def route(self, route) -> None:
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.call_failed = report.failed


@pytest.fixture
def new_page(request, browser):
    contexts = []

    def make(viewport=(1400, 1000)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        offline = Offline()
        context.route("**/*", offline.route)
        page = context.new_page()
        page.offline = offline
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.responses = []
        page.on("response", lambda r: page.responses.append((r.url, r.status)))
        contexts.append(context)
        return page

    yield make
    for n, context in enumerate(contexts):
        if getattr(request.node, "call_failed", False):  # what the page showed when it failed
            for page in context.pages:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}-{n}.png"))
        context.close()
