"""Sub-commands of the bridge (see authviz.cli for the contract): ``simulate``, ``token``,
``demo`` and ``bridge`` (the bridge alone in front of real Pusher Channels or soketi)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from authviz.bridgeclient import BridgeClient, BridgeError, logs_url
from authviz.cli.argtypes import check_port, whole_number
from authviz.config import load_environment
from authviz.errors import AuthvizError, UsageError

DEFAULT_SERVER = "http://127.0.0.1:6001"
#: Longest lifetime ``authviz token --ttl`` mints (a dev token is for a demo or a workshop).
MAX_TOKEN_TTL = 30 * 24 * 3600  # the same bound as authviz.bridge.devidentity.MAX_TOKEN_TTL


def _state_dir_default() -> str:
    return load_environment().get("AUTHVIZ_STATE_DIR", ".authviz")


def add_commands(subparsers: Any) -> None:
    """Register ``simulate``, ``token``, ``demo`` and ``bridge``."""
    _add_simulate(subparsers)
    _add_token(subparsers)
    _add_demo(subparsers)
    _add_bridge(subparsers)


# -- simulate ----------------------------------------------------------------------------------


def _add_simulate(subparsers: Any) -> None:
    from authviz.simulator import SCENARIOS

    p = subparsers.add_parser(
        "simulate",
        help="post realistic simulated Auth0 traffic to a log-stream webhook",
        description="Generate seeded Auth0 Log Streaming traffic (diurnal curve, country mix, "
        "sign-ups, log-ins, failures, optional attacks) and POST it in JSON lines "
        "batches to the bridge's /auth0/logs, paced on the wall clock.",
    )
    p.add_argument(
        "--target",
        default=load_environment().get("AUTHVIZ_BRIDGE_URL", DEFAULT_SERVER),
        help=f"webhook URL, or the server's base URL (default: {DEFAULT_SERVER}/auth0/logs)",
    )
    p.add_argument(
        "--token",
        default=load_environment().get("AUTHVIZ_LOG_TOKEN"),
        help="the log-stream token (default: env AUTHVIZ_LOG_TOKEN, else STATE_DIR/log-token written by authviz serve)",
    )
    p.add_argument(
        "--state-dir",
        default=_state_dir_default(),
        metavar="DIR",
        help="where to find log-token (default: .authviz, env AUTHVIZ_STATE_DIR)",
    )
    p.add_argument("--rate", type=float, default=5.0, help="mean events per second (default 5)")
    amount = p.add_mutually_exclusive_group()
    amount.add_argument(
        "--duration", type=float, metavar="SECONDS", help="seconds of normal traffic (default: until Ctrl-C)"
    )
    amount.add_argument(
        "--count", type=int, metavar="N", help="number of normal events to send (default: until Ctrl-C)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=list(SCENARIOS),
        metavar="NAME",
        help="inject an attack a few seconds in (repeatable; it follows its own timeline, "
        "up to about 50 minutes for disposable-signups): " + ", ".join(SCENARIOS),
    )
    p.add_argument("--batch-size", type=int, default=100, help="records per POST (default 100)")
    p.add_argument(
        "--no-pace", action="store_true", help="send as fast as the server answers instead of on the wall clock"
    )
    p.add_argument("--start", default=None, help="timestamp of the first event, ISO 8601 (default: now)")
    p.add_argument("--retries", type=int, default=3, help="retries of a failed batch, as Auth0 does (default 3)")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (there is none either when stderr is not a terminal)",
    )
    p.set_defaults(func=run_simulate)


def _webhook_url(target: str) -> str:
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--target {target!r} is not an http(s) URL.")
    return logs_url(target)


def _read_token(state_dir: str) -> str | None:
    try:
        return (Path(state_dir) / "log-token").read_text().strip() or None
    except OSError:
        return None


def run_simulate(args: argparse.Namespace) -> int:
    from authviz.bridge.simulate import SimulateOptions, run_simulation

    token = args.token or _read_token(args.state_dir)
    if not token:
        raise UsageError("give the log-stream token with --token (or AUTHVIZ_LOG_TOKEN).")
    if args.retries < 0:
        raise UsageError("--retries must be zero or more.")
    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1.")
    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--start {args.start!r} is not an ISO 8601 timestamp.") from None
    options = SimulateOptions(
        target=_webhook_url(args.target),
        token=token,
        rate=args.rate,
        duration=args.duration,
        count=args.count,
        seed=args.seed,
        scenarios=tuple(args.scenario),
        batch_size=args.batch_size,
        pace=not args.no_pace,
        start=start,
        progress=not args.no_progress,
        retries=args.retries,
    )
    try:
        report = asyncio.run(run_simulation(options))
    except KeyboardInterrupt:
        return 0
    print(
        f"posted {report.posted} records in {report.batches} batches: {report.stored} stored, "
        f"{report.duplicates} duplicates, {report.quarantined} quarantined"
        + (f", {report.retried} retries" if report.retried else ""),
        file=sys.stderr,
    )
    return 0


# -- token ---------------------------------------------------------------------------------------


def _add_token(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "token",
        help="mint a dev-identity access token for a demo user",
        description="Print an RS256 access token for a demo user, signed by the dev identity of "
        "`authviz serve --dev-identity` (the key in STATE_DIR/dev-identity.pem, or "
        "asked from the running server with --server). For demos and tests only.",
    )
    p.add_argument("--user", required=True, help="demo user name, e.g. alice (sub becomes dev|alice)")
    p.add_argument(
        "--permission",
        action="append",
        default=[],
        metavar="PERM",
        help="grant this permission in the token's permissions claim, as Auth0 RBAC "
        "does (repeatable), e.g. read:auth_events to read the event feed and "
        "its history (default: none)",
    )
    p.add_argument(
        "--server",
        default=None,
        help="ask this running server (POST /dev/token, loopback only) instead of signing with the local key file",
    )
    p.add_argument("--key-file", default=None, help="PEM key (default STATE_DIR/dev-identity.pem)")
    p.add_argument("--issuer", default=None, help="issuer URL (default: the one the server recorded in STATE_DIR)")
    p.add_argument("--audience", default=None, help="audience (default: the server's)")
    p.add_argument(
        "--ttl",
        type=int,
        default=8 * 3600,
        metavar="SECONDS",
        help=f"lifetime in seconds, 1 to {MAX_TOKEN_TTL} (30 days) (default 8 h)",
    )
    p.add_argument("--state-dir", default=_state_dir_default(), help="state directory (default .authviz)")
    p.set_defaults(func=run_token)


def _check_ttl(ttl: int) -> None:
    """A token that is already expired (ttl <= 0) or lives for months is a mistake."""
    if not 1 <= ttl <= MAX_TOKEN_TTL:
        raise UsageError(f"--ttl must be from 1 to {MAX_TOKEN_TTL} seconds (30 days), not {ttl}.")


def _token_from_server(server: str, user: str, permissions: Sequence[str] = ()) -> str:
    try:
        return BridgeClient(server).dev_token(user, permissions)
    except BridgeError as error:
        if error.status == 404:
            raise AuthvizError(f"{server} has no dev identity; start it with `authviz serve --dev-identity`.") from None
        if error.status is None:
            raise AuthvizError(f"cannot reach {server} ({error.reason}); is `authviz serve` running?") from None
        raise


def run_token(args: argparse.Namespace) -> int:
    _check_ttl(args.ttl)
    if args.server:
        token = _token_from_server(args.server, args.user, args.permission)
    else:
        token = mint_token(
            args.user,
            state_dir=args.state_dir,
            key_file=args.key_file,
            issuer=args.issuer,
            audience=args.audience,
            ttl=args.ttl,
            permissions=args.permission,
        )
    print(token)
    return 0


def mint_token(*args: Any, **kwargs: Any) -> str:
    """:func:`authviz.bridge.devidentity.mint_token` (imported late: the crypto stack is slow)."""
    from authviz.bridge.devidentity import mint_token as mint

    return mint(*args, **kwargs)


# -- demo ----------------------------------------------------------------------------------------


def _add_demo(subparsers: Any) -> None:
    from authviz.simulator import SCENARIOS

    p = subparsers.add_parser(
        "demo",
        help="start the hub with the bridge, the simulator, JupyterLab and the dashboard (offline)",
        description="Start `authviz serve --dev-identity` (hub, bridge, dev identity), the "
        "simulator posting traffic through the real webhook, JupyterLab and the live "
        "dashboard (Voila) on a working copy of the notebooks in STATE_DIR/notebooks "
        "(kept across runs: saving there changes no tracked file), with the environment "
        "the notebooks read. Ports in use are refused at once; the URLs are printed "
        "once the servers answer; their logs are kept in STATE_DIR. Ctrl-C (or SIGTERM) "
        "stops them all; when one of them stops on its own the demo stops the rest "
        'and exits 1. From make: make demo ARGS="--scenario credential-stuffing".',
    )
    p.add_argument("--port", type=int, default=6001, help="hub and bridge port (default 6001)")
    p.add_argument("--jupyter-port", type=int, default=8888, help="JupyterLab port (default 8888)")
    p.add_argument("--dashboard-port", type=int, default=8866, help="dashboard (Voila) port (default 8866)")
    p.add_argument("--rate", type=float, default=3.0, help="simulated events per second (default 3)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="simulator seed (default 0)")
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=list(SCENARIOS),
        metavar="NAME",
        help="attack scenario to inject a few seconds in (repeatable): " + ", ".join(SCENARIOS),
    )
    p.add_argument("--user", default="alice", help="demo user whose token the notebooks get (default alice)")
    p.add_argument("--state-dir", default=_state_dir_default(), help="state directory (default .authviz)")
    p.add_argument("--notebooks", default="notebooks", help="notebook directory (default notebooks/)")
    p.add_argument("--no-jupyter", action="store_true", help="do not start JupyterLab nor the dashboard")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    p.add_argument(
        "--reset-notebooks",
        action="store_true",
        help="replace the working copy's notebooks with the shipped ones (your edits there are lost)",
    )
    p.add_argument("--no-simulator", action="store_true", help="do not start the simulator")
    p.add_argument(
        "--no-install", action="store_true", help="never try to install the notebooks extra when JupyterLab is missing"
    )
    p.add_argument(
        "--for",
        dest="run_for",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop everything after this many seconds (default: until Ctrl-C or SIGTERM)",
    )
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from authviz.bridge.demo import DemoOptions, run

    return run(
        DemoOptions(
            port=args.port,
            jupyter_port=args.jupyter_port,
            dashboard_port=args.dashboard_port,
            dashboard=not args.no_dashboard,
            reset_notebooks=args.reset_notebooks,
            rate=args.rate,
            seed=args.seed,
            scenarios=tuple(args.scenario),
            user=args.user,
            state_dir=Path(args.state_dir),
            notebooks=Path(args.notebooks),
            jupyter=not args.no_jupyter,
            simulator=not args.no_simulator,
            install=not args.no_install,
            run_for=args.run_for,
            log_token=load_environment().get("AUTHVIZ_LOG_TOKEN") or None,
        )
    )


# -- bridge (standalone) -------------------------------------------------------------------------

_publish_concurrency_arg = whole_number(1, 64, unit="requests")
_publish_retry_arg = whole_number(1, 3600, unit="seconds")


def _add_bridge(subparsers: Any) -> None:
    from authviz.cli.bridge_options import add_bridge_arguments

    p = subparsers.add_parser(
        "bridge",
        help="run only the bridge, publishing to real Pusher Channels or soketi",
        description="Serve /auth0/logs, /auth0/events, /pusher/auth, /pusher/user-auth and "
        "/chat/messages on their own port and publish through the Pusher HTTP API "
        "of --pusher-url (use `authviz serve` instead for the embedded hub).",
    )
    p.add_argument(
        "--pusher-url",
        action="append",
        default=None,
        metavar="URL",
        help="http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID (env PUSHER_URL); repeat it "
        "for each node of one cluster: publishing fails over to the next",
    )
    p.add_argument(
        "--publish-concurrency",
        type=_publish_concurrency_arg,
        default=8,
        metavar="N",
        help="publishing requests (of up to 10 events) in flight at once (default 8)",
    )
    p.add_argument(
        "--publish-retry-max",
        type=_publish_retry_arg,
        default=30,
        metavar="SECONDS",
        help="while the Pusher server fails, the events are kept and retried; the wait "
        "between attempts doubles up to this (default 30)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6002, help="port (default 6002)")
    add_bridge_arguments(p, standalone=True)
    p.set_defaults(func=run_bridge)


def run_bridge(args: argparse.Namespace) -> int:
    from authviz import stack
    from authviz.bridge.serve import standalone_app
    from authviz.cli.bridge_options import bridge_settings
    from authviz.cli.serve import serving_error
    from authviz.errors import ListenError, StateError

    check_port(args.port)
    pusher_urls = args.pusher_url or [load_environment().get("PUSHER_URL") or ""]
    if not all(pusher_urls):
        # a missing setting is a usage error, as for `authviz logs pull` without --domain
        raise UsageError("give --pusher-url (or set PUSHER_URL) as http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID.")
    settings = replace(
        bridge_settings(args),
        publish_concurrency=args.publish_concurrency,
        publish_retry_max=float(args.publish_retry_max),
    )

    def listening(port: int) -> None:
        print(
            f"authviz bridge listening on http://{args.host}:{port} (log stream: POST /auth0/logs); Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )

    async def main() -> None:
        app, _bridge = standalone_app(settings, pusher_urls, host=args.host, port=args.port)
        try:
            await stack.serve(app, host=args.host, port=args.port, ready=listening)
        except (ListenError, StateError) as error:
            raise serving_error(error) from None

    asyncio.run(main())
    return 0
