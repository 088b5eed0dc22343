"""``authviz detect`` and ``authviz rules list|check``: Sigma rules over log files and archives.

Exit status: ``detect`` 0 when it ran (findings or not), 2 on a usage error (a missing input, a bad
time, an unreadable settings file or rule path); ``rules check`` 1 when a rule file is not usable.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from authviz.detections.load import RuleError, load_rules, load_settings, packaged_rules, settings_template
from authviz.detections.model import RuleSet, TenantSettings
from authviz.errors import UsageError


def add_commands(subparsers) -> None:
    """Register ``authviz detect`` and ``authviz rules list|check``."""
    detect = subparsers.add_parser(
        "detect",
        help="run the packaged and your Sigma rules over log files or a Parquet archive",
        description="Run the packaged detection rules (authviz's built-in detections and Auth0's Security "
        "Detection Catalog) plus any given Sigma rules over Auth0 log files (any shape `logs "
        "convert` reads), Parquet files, or an archive directory written by `logs pull`. Prints "
        "a table, or one JSON object per finding with --json. Rules whose placeholders the "
        "settings file does not fill are listed as needing configuration and not run.",
    )
    detect.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="log file (JSON lines, JSON array, gzip), .parquet file, or archive directory",
    )
    detect.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="DIR_OR_FILE",
        help="more Sigma rules: a .yml file or a directory searched recursively (repeatable)",
    )
    detect.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per finding per line (rule_id, title, level, group, count, first, last, event_ids)",
    )
    detect.add_argument(
        "--since",
        type=_time,
        metavar="T",
        help="only events at or after T (ISO 8601, e.g. 2026-11-01 or 2026-11-01T08:00Z; UTC when no offset is given)",
    )
    detect.add_argument("--until", type=_time, metavar="T", help="only events before T (ISO 8601, UTC by default)")
    detect.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help="per-tenant values of rule placeholders (YAML: `your-tenant-url: acme.eu.auth0.com`)",
    )
    detect.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="DuckDB memory limit for large archives, e.g. 2GB (default: DuckDB's, 80%% of RAM)",
    )
    detect.set_defaults(func=detect_command)

    rules = subparsers.add_parser(
        "rules",
        help="list the loaded detection rules and check rule files",
        description="List the detection rules authviz would run, and check Sigma rule "
        "files: what loads, what compiles, what needs configuration.",
    )
    rules_commands = rules.add_subparsers(title="rules commands", metavar="COMMAND")
    rules.set_defaults(func=lambda args: _missing(rules))
    listing = rules_commands.add_parser(
        "list",
        help="list the packaged rules and any given ones",
        description="List every loaded rule: origin (builtin, catalog, user), "
        "kind, level, id, title, and the placeholders it still needs.",
    )
    listing.add_argument(
        "--rules", action="append", default=[], metavar="DIR_OR_FILE", help="more Sigma rules to list (repeatable)"
    )
    listing.add_argument("--settings", type=Path, metavar="FILE", help="per-tenant placeholder values (YAML)")
    listing.add_argument("--json", action="store_true", help="one JSON object per rule per line")
    listing.set_defaults(func=rules_list_command)
    check = rules_commands.add_parser(
        "check",
        help="check Sigma rule files: load, compile, placeholders",
        description="Load and compile the Sigma rules in DIR (default: the packaged rules). Prints one sentence "
        "per file that is not usable and each rule that needs configuration. Exit 0 when every "
        "file loads, 1 when some does not.",
    )
    check.add_argument("directory", nargs="?", type=Path, metavar="DIR", help="a directory or .yml file of rules")
    check.add_argument("--settings", type=Path, metavar="FILE", help="per-tenant placeholder values (YAML)")
    check.set_defaults(func=rules_check_command)
    template = rules_commands.add_parser(
        "settings",
        help="print a settings file to fill in: the placeholders the rules still need",
        description="Print a settings file (YAML) with every placeholder the rules use that is still "
        "unset: what it stands for and which rules need it. Fill in the values and pass the file as "
        "--settings FILE, e.g. `authviz rules settings > tenant.yml`.",
    )
    template.add_argument(
        "--rules", action="append", default=[], metavar="DIR_OR_FILE", help="more Sigma rules (repeatable)"
    )
    template.add_argument(
        "--settings", type=Path, metavar="FILE", help="a settings file already filled in: its placeholders are left out"
    )
    template.set_defaults(func=rules_settings_command)


def _missing(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-01T08:00Z)") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _settings(path: Path | None) -> TenantSettings | None:
    if path is None:
        return None
    try:
        return load_settings(path)
    except RuleError as error:
        raise UsageError(str(error)) from None


def _rules(paths: list[str], packaged: bool = True) -> RuleSet:
    """The packaged rules plus those at ``paths``; each rule file that did not load is one line on stderr."""
    from authviz.detections.run import gather_rules

    try:
        rules = gather_rules(paths, packaged=packaged)
    except RuleError as error:
        raise UsageError(str(error)) from None
    for problem in rules.problems:
        _say(f"authviz: {problem}")
    return rules


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _template_command(settings: TenantSettings | None) -> str:
    if settings is None or not settings.source:
        return "authviz rules settings > tenant.yml"
    return f"authviz rules settings --settings {settings.source} > more.yml"


def _settings_note(rules: RuleSet, settings: TenantSettings | None) -> str:
    """One sentence: how many rules can run, and where their placeholder values come from."""
    waiting = rules.needing_configuration(settings)
    counts = f"{len(rules.rules)} rules, {len(rules.rules) - len(waiting)} ready"
    if settings is not None:
        source = f"settings from {settings.source} ({len(settings.placeholders)} placeholder(s) set)"
    else:
        source = "no settings file given (--settings FILE)"
    if not waiting:
        return f"authviz: {counts}; {source}"
    names = sorted({name for _, missing in waiting for name in missing})
    return (
        f"authviz: {counts}, {len(waiting)} need configuration ("
        + ", ".join("{" + n + "}" for n in names)
        + f"); {source}; `{_template_command(settings)}` writes a file to fill in"
    )


def detect_command(args: argparse.Namespace) -> int:
    from authviz.detections.run import finding_record, findings_table, run_rules

    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")
    settings = _settings(args.settings)
    rules = _rules(args.rules)
    for path in args.inputs:
        if not Path(path).exists():
            raise UsageError(f"input {path!r} does not exist")
    tty = sys.stderr.isatty()
    try:
        engine, summary, report = run_rules(
            args.inputs,
            rules,
            settings,
            since=args.since,
            until=args.until,
            memory_limit=args.memory_limit,
            progress=_say if tty else None,
        )
    except RuleError as error:
        raise UsageError(str(error)) from None
    try:
        out = sys.stdout
        if args.json:
            for finding in engine.iter_findings():
                out.write(json.dumps(finding_record(finding), ensure_ascii=False) + "\n")
        else:
            records = [finding_record(f) for f in engine.iter_findings()]
            if records:
                for line in findings_table(records):
                    out.write(line + "\n")
            else:
                out.write("no findings\n")
        out.flush()
    finally:
        engine.close()
    for _rule, message in report.failed:
        _say(f"authviz: {message}")
    if summary.rejects:
        _say(
            f"authviz: {summary.rejects} record(s) could not be read as Auth0 logs and were skipped "
            f"(see `authviz logs convert` for each reason)"
        )
    if report.needs_configuration:
        names = sorted({name for _, missing in report.needs_configuration for name in missing})
        _say(
            f"authviz: {len(report.needs_configuration)} rule(s) need configuration and were not run: set "
            + ", ".join("{" + n + "}" for n in names)
            + " in a --settings file (`authviz rules settings` writes one to fill in)"
        )
    _say(f"authviz: {len(report.ran)} rules ran, {report.findings} finding(s)")
    return 0


def rules_list_command(args: argparse.Namespace) -> int:
    from authviz.detections.run import rules_table

    settings = _settings(args.settings)
    rules = _rules(args.rules)
    if args.json:
        for rule in rules.rules:
            sys.stdout.write(
                json.dumps(
                    {
                        "id": rule.id,
                        "title": rule.title,
                        "level": rule.level,
                        "kind": rule.kind,
                        "origin": rule.origin,
                        "source": rule.source,
                        "description": rule.description,
                        "prevention": list(rule.prevention),
                        "needs": ["{" + m + "}" for m in rule.missing(settings)],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    else:
        for line in rules_table(rules, settings):
            sys.stdout.write(line + "\n")
        _say(_settings_note(rules, settings))
    return 0


def rules_settings_command(args: argparse.Namespace) -> int:
    settings = _settings(args.settings)
    rules = _rules(args.rules)
    sys.stdout.write(settings_template(rules.rules, settings))
    return 0


def rules_check_command(args: argparse.Namespace) -> int:
    from authviz.detections.compile import DUCKDB_EVENTS, findings_query
    from authviz.detections.engine import DetectionEngine

    settings = _settings(args.settings)
    if args.directory is not None:
        if not args.directory.exists():
            raise UsageError(f"rule path {str(args.directory)!r} does not exist")
        rules = load_rules([args.directory])
    else:
        rules = packaged_rules()
    broken = len(rules.problems)
    for problem in rules.problems:
        print(f"invalid  {problem}")
    with DetectionEngine() as engine:
        engine.define_events_empty()
        for rule in rules.rules:
            missing = rule.missing(settings)
            if missing:
                print(f"needs    {rule.id}  {rule.title}: set " + ", ".join("{" + m + "}" for m in missing))
                continue
            try:
                engine.con.execute(f"EXPLAIN {findings_query(rule, settings, DUCKDB_EVENTS)}").fetchall()
            except Exception as error:  # a rule that loads but does not compile is as broken as a bad file
                broken += 1
                print(f"invalid  {rule.source}: rule {rule.id} does not compile ({str(error).splitlines()[0]})")
                continue
            print(f"ok       {rule.id}  {rule.title}")
    runnable = len(rules.rules) - len(rules.needing_configuration(settings))
    _say(
        f"authviz: {len(rules.rules)} rules loaded, {runnable} ready to run, "
        f"{len(rules.needing_configuration(settings))} need configuration, {broken} problem(s)"
    )
    if rules.needing_configuration(settings):
        _say(_settings_note(rules, settings))
    return 1 if broken else 0
