"""Sub-commands of this package (see authviz.cli for the contract): ``authviz logs pull``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from authviz.config import load_environment
from authviz.analytics.pull import MAX_PAGE_SIZE, pull_logs
from authviz.errors import AuthvizError, UsageError

#: Exit status of a pull stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def add_logs_commands(subparsers) -> None:
    """Register ``authviz logs pull``."""
    parser = subparsers.add_parser(
        "pull",
        help="import a tenant's logs from the Management API into Parquet, resumably",
        description="Import logs from an Auth0 tenant (GET /api/v2/logs, checkpoint paging) into Parquet files "
        "partitioned by day (DIR/date=YYYY-MM-DD/part-*.parquet). Resumes from the last saved log. "
        "Secrets may come from the environment: AUTH0_DOMAIN, AUTH0_MANAGEMENT_TOKEN, "
        "AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET (preferred over the command line, which other users can see).",
    )
    parser.add_argument(
        "--domain",
        default=load_environment().get("AUTH0_DOMAIN"),
        help="tenant domain, e.g. acme.eu.auth0.com (default: env AUTH0_DOMAIN)",
    )
    parser.add_argument(
        "--token", default=None, help="a Management API token with read:logs (default: env AUTH0_MANAGEMENT_TOKEN)"
    )
    parser.add_argument(
        "--client-id",
        default=None,
        help="client id of an application allowed the client-credentials grant (default: env AUTH0_CLIENT_ID)",
    )
    parser.add_argument("--client-secret", default=None, help="its client secret (default: env AUTH0_CLIENT_SECRET)")
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="directory for the Parquet files and the checkpoint"
    )
    parser.add_argument(
        "--from",
        dest="from_log_id",
        metavar="LOG_ID",
        help="start after this log id (default: the saved checkpoint, else the oldest log)",
    )
    parser.add_argument(
        "--take",
        type=int,
        default=MAX_PAGE_SIZE,
        metavar="N",
        help=f"logs per request, 1..{MAX_PAGE_SIZE} (default {MAX_PAGE_SIZE})",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N logs in this run")
    parser.add_argument(
        "--max-wait", type=float, default=60.0, metavar="S", help="longest rate-limit pause to sit out (default 60 s)"
    )
    parser.add_argument(
        "--flush-every",
        type=int,
        default=10_000,
        metavar="N",
        help="write Parquet and save the checkpoint every N logs (default 10000)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (it is shown only when stderr is a terminal)"
    )
    parser.add_argument(
        "--base-url", default=None, help=argparse.SUPPRESS
    )  # tests: http://127.0.0.1:PORT fake of the API
    parser.set_defaults(func=_pull)


def _pull(args: argparse.Namespace) -> int:
    # explicit options win over the environment: --client-id/--client-secret ignore a token in the environment
    token = args.token or (
        None if (args.client_id or args.client_secret) else load_environment().get("AUTH0_MANAGEMENT_TOKEN")
    )
    client_id = args.client_id or load_environment().get("AUTH0_CLIENT_ID")
    client_secret = args.client_secret or load_environment().get("AUTH0_CLIENT_SECRET")
    if not args.domain:
        raise UsageError("give --domain (or set AUTH0_DOMAIN), e.g. --domain acme.eu.auth0.com")
    if args.token and (args.client_id or args.client_secret):
        raise UsageError("give either --token or --client-id/--client-secret, not both")
    if not token and not (client_id and client_secret):
        raise UsageError("give --token, or both --client-id and --client-secret (or set AUTH0_MANAGEMENT_TOKEN)")
    if args.flush_every < 1:
        raise UsageError("--flush-every must be at least 1")
    if not args.max_wait >= 0:
        raise UsageError(f"--max-wait must be 0 or more seconds, not {args.max_wait:g}")
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {args.output!r} is a file; give a directory for the Parquet files")
    try:
        result = asyncio.run(
            pull_logs(
                args.domain,
                args.output,
                token=token,
                client_id=client_id,
                client_secret=client_secret,
                base_url=args.base_url,
                from_log_id=args.from_log_id,
                page_size=args.take,
                limit=args.limit,
                flush_every=args.flush_every,
                max_wait=args.max_wait,
                progress=not args.no_progress,
            )
        )
    except KeyboardInterrupt:  # the pull saved what it had (a finally flushes): not a success
        print(
            f"authviz: interrupted; what was pulled is saved in {str(args.output)!r}: run the same "
            "command again to resume.",
            file=sys.stderr,
        )
        return INTERRUPTED
    except OSError as error:  # the output directory: not creatable, not writable, disk full
        name = str(error.filename) if error.filename else str(args.output)
        where = repr(name) if name == str(args.output) else f"{name!r} under {str(args.output)!r}"
        raise AuthvizError(f"cannot write {where}: {error.strerror or error}") from None
    state = "caught up" if result.caught_up else "stopped"
    print(
        f"pulled {result.pulled} logs in {result.pages} pages into {args.output} ({state}; "
        f"last log {result.last_log_id or '-'}; {result.retries} retries; {result.rejects} rejected)"
    )
    return 0
