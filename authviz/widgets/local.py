"""The embedded hub with the bridge and a dev identity, in-process on a free loopback port.

Used by notebooks when no Pusher settings are in the environment (and by tests). The bridge is
mounted the way ``authviz serve --dev-identity`` mounts it, publishing in-process to the hub; its
store lives in a temporary directory removed by :meth:`LocalHub.stop`. Nothing here prints: the
hub's thread only runs its event loop.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from authviz.bridge import serve as bridge_serve
from authviz.bridge.publish import HubPublisher
from authviz.config import BridgeSettings
from authviz.hub.running import DEFAULT_APP_ID, DEFAULT_KEY, RunningHub, random_secret
from authviz.hub.server import HubServer
from authviz.pusher.protocol import App


def _bridge_settings(state_dir: Path, log_token: str) -> BridgeSettings:
    # explicit values so nothing is taken from the caller's environment
    # publish_feed: the notebooks read the tutorial feed; this hub listens on loopback only
    return BridgeSettings(
        state_dir=state_dir,
        store=state_dir / "bridge.sqlite3",
        log_token=log_token,
        dev_identity=True,
        publish_feed=True,
    )


#: Prefix of the local hubs' temporary state directories; each holds the pid of its process.
STATE_PREFIX = "authviz-local-"
OWNER_FILE = "owner.pid"


def sweep_stale_state(root: Path | None = None) -> list[Path]:
    """Remove state directories of local hubs whose process is gone (a kernel killed outright, as
    nbval and CI do, runs no exit hook). Only directories with an owner file, owned by a dead pid."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(STATE_PREFIX + "*"):
        try:
            pid = int((folder / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except PermissionError:  # alive, someone else's
            continue
    return removed


class LocalHub(RunningHub):
    """Hub + bridge + dev identity on ``127.0.0.1:<free port>``; ``log_token`` authorizes the webhook."""

    def __init__(self, **server_options: Any) -> None:
        super().__init__([App(DEFAULT_APP_ID, DEFAULT_KEY, random_secret())], **server_options)
        sweep_stale_state()
        self.state_dir = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
        (self.state_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        self.log_token = secrets.token_hex(24)
        self.bridge: Any = None

    async def _mount(self, server: HubServer) -> None:
        settings = _bridge_settings(self.state_dir, self.log_token)
        self.bridge = bridge_serve.build_bridge(
            settings,
            publisher=HubPublisher(server, self.app.app_id),
            app_key=self.app.key,
            app_secret=self.app.secret,
            host=self.host,
            port=None,
        )
        self.bridge.install(server.app)
        await self.bridge.start()

    def _serving(self) -> None:
        self.bridge.verifier.set_issuer(self.url + "/")

    async def _unmount(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the hub and the bridge (store closed), join the thread, remove the temp store."""
        super().stop(timeout)
        shutil.rmtree(self.state_dir, ignore_errors=True)
