"""``authviz dashboard``: serve only the one-page live dashboard (Voila)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from authviz.config import load_environment, process_environment


def add_commands(subparsers: Any) -> None:
    """Register ``dashboard``."""
    p = subparsers.add_parser(
        "dashboard",
        help="serve the one-page live dashboard (Voila) on a working copy of the notebooks",
        description="Serve notebooks/00_dashboard.ipynb with Voila on 127.0.0.1: live feed, log-ins "
        "by country (bars and map), alerts of the live detections, session events and a "
        "control that launches the simulator's attacks. Its kernels use the Pusher "
        "settings of the environment (e.g. `set -a; . .authviz/demo.env; set +a` while "
        "`make demo` runs); without them each page runs the embedded hub with simulated "
        "traffic. `make demo` starts it for you. Ctrl-C stops it.",
    )
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    p.add_argument(
        "--state-dir",
        default=load_environment().get("AUTHVIZ_STATE_DIR", ".authviz"),
        help="state directory: the working copy of the notebooks and the log (default .authviz)",
    )
    p.add_argument("--notebooks", default="notebooks", help="shipped notebooks to copy from (default notebooks/)")
    p.add_argument(
        "--reset-notebooks",
        action="store_true",
        help="replace the working copy's notebooks with the shipped ones (your edits there are lost)",
    )
    p.set_defaults(func=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    from authviz.errors import SettingError
    from authviz.notebook_servers import run_dashboard as serve

    if not 1 <= args.port <= 65535:
        raise SettingError(f"port must be from 1 to 65535, not {args.port}.", "port")
    return serve(
        notebooks=Path(args.notebooks),
        state_dir=Path(args.state_dir),
        port=args.port,
        env=process_environment(**load_environment()),
        reset=args.reset_notebooks,
        say=lambda text: print(text, file=sys.stderr, flush=True),
    )
