"""``authviz logs convert``: Auth0 logs of any shape -> Parquet, CSV or JSON lines.

Exit status: 0 when every record parsed, 1 when some were rejected (they are written next to the
output as ``OUT.rejects.jsonl`` with their reasons, so nothing is lost), 2 on a usage error, 130
when stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
import pandas as pd

from authviz.auth0.archive import write_parquet
from authviz.auth0.bulk import PROGRESS_MIN_BYTES, LogInputError, read_log_files
from authviz.auth0.frame import LogFrame
from authviz.auth0.model import ParseError, Reject
from authviz.auth0.schema import SOURCES
from authviz.errors import AuthvizError, UsageError

#: Output formats by file extension.
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: Exit status of a conversion stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130
#: How many reject reasons the summary prints (all of them are in the rejects file).
SUMMARY_MAX_REJECTS = 20


def add_logs_commands(subparsers) -> None:
    """Register ``authviz logs convert``."""
    parser = subparsers.add_parser(
        "convert",
        help="parse Auth0 logs of any shape into .parquet, .csv or .jsonl",
        description=(
            "Parse Auth0 logs (Log Streaming JSON lines/array/object, Management API arrays, "
            "EventBridge envelopes, Rule or Action payloads; optionally gzip) into one table. "
            "Rejected records are written next to OUT as OUT.rejects.jsonl with their reasons. "
            "Exit status: 0 all parsed, 1 some rejected, 2 usage error."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help="log files to read")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="OUT",
        help="output file; its extension (.parquet, .csv, .jsonl) picks the format",
    )
    parser.add_argument(
        "--format", choices=sorted(set(FORMATS.values())), help="output format, when OUT's extension does not say it"
    )
    parser.add_argument("--shape", choices=SOURCES, help="force the input shape instead of detecting it")
    parser.add_argument("--strict", action="store_true", help="stop at the first rejected record (exit 1)")
    parser.add_argument(
        "--keep-duplicates", action="store_true", help="keep records repeating an event id instead of dropping them"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"show a progress bar on stderr for inputs of {PROGRESS_MIN_BYTES >> 20} MiB "
        "or more (default: "
        "only when stderr is a terminal, so logs and pipes stay clean)",
    )
    parser.set_defaults(func=convert_command)


def output_format(output: Path, explicit: str | None) -> str:
    """The output format from ``--format`` or the extension; :class:`UsageError` when unknown."""
    if explicit:
        return explicit
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot tell the output format from {str(output)!r}: name it .parquet, .csv or .jsonl, or pass --format"
        )
    return fmt


def rejects_path(output: Path) -> Path:
    """Where the rejects of ``output`` go: ``OUT.rejects.jsonl`` beside it."""
    return output.with_name(output.name + ".rejects.jsonl")


def write_frame(frame: pd.DataFrame, output: Path, fmt: str) -> None:
    """Write the events; ``raw`` stays a JSON string in every format. Parquet is written in the
    archive layout (:mod:`authviz.auth0.archive`: derived columns, rows sorted for rules)."""
    if fmt == "parquet":
        write_parquet(frame, output)
    elif fmt == "csv":
        out = frame.copy()
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.to_csv(output, index=False)
    else:
        out = frame.copy()
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.to_json(output, orient="records", lines=True, force_ascii=False)


def write_rejects(rejects: Sequence[Reject], path: Path) -> None:
    with path.open("wb") as out:
        for reject in rejects:
            out.write(orjson.dumps(reject.to_dict()))
            out.write(b"\n")


def convert_command(args: argparse.Namespace) -> int:
    fmt = output_format(args.output, args.format)
    for path in args.inputs:
        if not path.exists():
            raise UsageError(f"input file {str(path)!r} does not exist")
        if path.is_dir():
            raise UsageError(f"input {str(path)!r} is a directory, not a log file")
    if args.output.parent.exists() and not args.output.parent.is_dir():
        raise UsageError(f"the output directory {str(args.output.parent)!r} is a file")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    for path in args.inputs:
        if path.is_file() and path.stat().st_size == 0:
            print(f"authviz: note: {str(path)!r} is empty (no records).", file=sys.stderr)
    try:
        result = read_log_files(
            args.inputs, source_shape=args.shape, strict=args.strict, progress=progress, dedup=not args.keep_duplicates
        )
    except LogInputError as error:
        raise UsageError(str(error)) from None
    except ParseError as error:
        raise AuthvizError(f"stopped (--strict): {error}") from None
    except KeyboardInterrupt:  # not a success: a script must not go on with a missing output
        print("authviz: interrupted; nothing was written.", file=sys.stderr)
        return INTERRUPTED
    rejected_to = rejects_path(args.output)
    empty = nothing_read(result, args.inputs)
    if empty is not None:  # nothing to write: an older output stays as it was
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_rejects(result.rejects, rejected_to)
        shown = "".join(f"\n  {reject.reason}" for reject in result.rejects[:SUMMARY_MAX_REJECTS])
        print(
            f"authviz: {empty}; nothing was written.{shown}\nrejected records with their reasons: {rejected_to}",
            file=sys.stderr,
        )
        return 1
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_frame(result.frame, args.output, fmt)
    except OSError as error:
        raise AuthvizError(f"cannot write {str(args.output)!r}: {error.strerror or error}") from None
    except KeyboardInterrupt:
        print(f"authviz: interrupted; {str(args.output)!r} may be incomplete.", file=sys.stderr)
        return INTERRUPTED
    if result.rejects:
        write_rejects(result.rejects, rejected_to)
    elif rejected_to.exists():
        rejected_to.unlink()  # a stale file from an earlier run would mislead
    print(summary(result, args.output, rejected_to, multiple=len(args.inputs) > 1))
    return 1 if result.rejects else 0


#: Reasons (after ``record N: ``) that mean a record is not JSON text at all.
NOT_JSON_REASONS = ("not valid JSON", "not valid UTF-8")


def nothing_read(result: LogFrame, inputs: Sequence[Path]) -> str | None:
    """The sentence to say when records were read but not one is an event (``None`` otherwise)."""
    if len(result.frame) or not result.rejects:
        return None
    label = repr(str(inputs[0])) if len(inputs) == 1 else f"the {len(inputs)} inputs"
    if all(reject.reason.split(": ", 1)[-1].startswith(NOT_JSON_REASONS) for reject in result.rejects):
        verb = "is" if len(inputs) == 1 else "are"
        return f"{label} {verb} not JSON (Auth0 logs are JSON lines, a JSON array or a JSON document)"
    count = len(result.rejects)
    return (
        f"no Auth0 events in {label}: {'the only record was' if count == 1 else f'all {count:,} records were'} rejected"
    )


def summary(result: LogFrame, output: Path, rejected_to: Path, *, multiple: bool) -> str:
    """What was written: events per category, duplicates, rejects with their reasons."""
    frame = result.frame
    lines = [f"wrote {len(frame):,} events to {output}"]
    counts = frame["category"].value_counts(sort=True)
    for category, count in counts.items():
        if count:
            lines.append(f"  {category:<18} {count:>10,}")
    lines.append(f"duplicates dropped: {result.duplicates:,}")
    lines.append(f"rejected records: {len(result.rejects):,}")
    for reject in result.rejects[:SUMMARY_MAX_REJECTS]:
        where = f"{reject.input}: " if multiple and reject.input else ""
        lines.append(f"  {where}{reject.reason}")
    if len(result.rejects) > SUMMARY_MAX_REJECTS:
        lines.append(f"  ... and {len(result.rejects) - SUMMARY_MAX_REJECTS:,} more")
    if result.rejects:
        lines.append(f"rejected records with their reasons: {rejected_to}")
    if any("with different content" in reject.reason for reject in result.rejects):
        lines.append(
            "records that reuse an event id with different content were rejected; --keep-duplicates keeps every record"
        )
    return "\n".join(lines)
