"""Running rules over files, the work behind ``authviz detect`` and ``authviz rules`` (no argparse here).

Inputs are log files of any shape ``read_logs`` reads (read one file at a time into DuckDB, events
repeated across files counted once), Parquet files, or ``logs pull``/``logs convert`` archive
directories (read in place by DuckDB). Findings stay in DuckDB until they are written out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from authviz.detections.engine import DetectionEngine, RunReport
from authviz.detections.load import RuleError, load_rules, packaged_rules
from authviz.detections.model import Rule, RuleSet, TenantSettings

PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(slots=True)
class InputSummary:
    """What the inputs held: events stored from log files, records rejected, repeats dropped."""

    files: int = 0
    archives: int = 0
    events_from_files: int = 0
    rejects: int = 0
    duplicates: int = 0
    reject_messages: list[str] = field(default_factory=list)


def gather_rules(rule_paths: Iterable[str | Path] = (), *, packaged: bool = True) -> RuleSet:
    """The packaged rules (unless ``packaged`` is false) and every rule under ``rule_paths``."""
    rules = packaged_rules() if packaged else RuleSet()
    rules.extend(load_rules(rule_paths))
    seen: dict[str, Rule] = {}
    for rule in rules.rules:
        if rule.id in seen and seen[rule.id] is not rule:
            other = seen[rule.id]
            raise RuleError(f"rule id {rule.id} is used twice: by {other.source} and by {rule.source}")
        seen[rule.id] = rule
    return rules


def add_inputs(
    engine: DetectionEngine, inputs: Sequence[str | Path], progress: Callable[[str], None] | None = None
) -> InputSummary:
    """Register every input with ``engine``; a path that does not exist raises :class:`RuleError`."""
    from authviz.auth0.bulk import read_logs

    summary = InputSummary()
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise RuleError(f"input {str(path)!r} does not exist")
        if path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES:
            engine.add_parquet(path)
            summary.archives += 1
            continue
        if progress is not None:
            progress(f"reading {path}")
        logs = read_logs(path)
        summary.files += 1
        summary.rejects += len(logs.rejects)
        summary.reject_messages.extend(f"{path}: {reject}" for reject in logs.rejects[:20])
        added = engine.add_frame(logs.frame) if len(logs.frame) else 0
        summary.events_from_files += added
        summary.duplicates += logs.duplicates + (len(logs.frame) - added)
    return summary


def run_rules(
    inputs: Sequence[str | Path],
    rules: RuleSet,
    settings: TenantSettings | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    memory_limit: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[DetectionEngine, InputSummary, RunReport]:
    """Run ``rules`` over ``inputs``; the caller reads findings from the engine and closes it."""
    engine = DetectionEngine(memory_limit=memory_limit)
    try:
        summary = add_inputs(engine, inputs, progress)
        engine.define_events(since=since, until=until)
        report = engine.run(
            rules.rules, settings, progress=(lambda rule: progress(f"ran {rule.title}")) if progress else None
        )
    except BaseException:
        engine.close()
        raise
    return engine, summary, report


def finding_record(finding: dict) -> dict:
    """A finding as plain JSON values: times as ISO 8601 UTC, ``group`` a mapping, ``event_ids`` a list."""
    out = dict(finding)
    for key in ("first", "last"):
        value = out.get(key)
        if value is not None and hasattr(value, "isoformat"):
            out[key] = _iso(value)
    out["event_ids"] = list(out.get("event_ids") or [])
    out["count"] = int(out["count"])
    return out


def findings_table(findings: Iterable[dict], width: int = 120) -> Iterator[str]:
    """Lines of a plain-text table of ``findings`` for people (long titles shortened)."""
    yield f"{'level':<13} {'first':<20} {'count':>6}  {'group':<32} title"
    for finding in findings:
        group = ", ".join(f"{k}={v}" for k, v in (finding["group"] or {}).items()) or "-"
        first = _iso(finding["first"])[:19].replace("T", " ") if finding["first"] is not None else "-"
        line = (
            f"{finding['level']:<13} {first:<20} {int(finding['count']):>6}  {_cut(group, 32):<32} {finding['title']}"
        )
        yield _cut(line, width)


def rules_table(rules: RuleSet, settings: TenantSettings | None) -> Iterator[str]:
    """Lines describing every loaded rule: whether it can run, origin, kind, level, id, title, and
    the placeholders it still needs."""
    yield f"{'status':<6} {'origin':<8} {'kind':<11} {'level':<13} {'id':<36}  title"
    for rule in rules.rules:
        missing = rule.missing(settings)
        state = "  [needs " + ", ".join("{" + m + "}" for m in missing) + "]" if missing else ""
        status = "needs" if missing else "ready"
        yield f"{status:<6} {rule.origin:<8} {rule.kind:<11} {rule.level:<13} {rule.id:<36}  {rule.title}{state}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _iso(value) -> str:
    import pandas as pd

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
