"""Benchmark: every packaged rule plus the further catalog rules over a day-partitioned Parquet archive,
the code on ``main`` over the archive layout it knew, against this code over the archive layout of
:mod:`authviz.auth0.archive`, on the same events, interleaved in one run.

    python benchmarks/bench_rules.py                     # 1M, then 10M events: old vs new (a few minutes)
    python benchmarks/bench_rules.py --events 100000000  # 100M, new code, DuckDB limit 2 GB (long)
    python benchmarks/bench_rules.py --compare 1000000   # built-in rules on DuckDB vs run_detections (pandas)

Archives are generated with DuckDB (no JSON files) under ``benchmarks/out/`` (git-ignored) and reused:
``archive-N`` in the old layout (schema columns plus ``raw``, a Log Streaming record whose ``data``
carries ``details``; one ``date=YYYY-MM-DD/part-0.parquet`` per day, rows in time order), and
``archive-N-v2-CODEC``, the same events rewritten by ``authviz.auth0.archive.copy_sql`` (derived columns,
rows sorted by type and time, small row groups, the archive's compression). 100M events are ten consecutive 30-day copies of
the 10M archive (ids suffixed, times shifted). The old code is ``main`` exported with ``git archive``
(``--baseline REF`` picks another commit). Each measurement is a fresh process: wall time of
``DetectionEngine.run`` (events read in place, findings written to DuckDB), peak RSS, and the load
average beside it. Target: <= 10 s for 10M events; 100M with a 2 GB DuckDB limit and peak RSS <= 3 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
#: The further catalog rules (packaged by the catalog work; loaded from here when they are not).
MORE_RULES = ROOT.parent / "tests" / "fixtures" / "sigma" / "auth0-customer-detections-more"
TARGET_10M_S = 10.0
TARGET_RSS_MIB = 3 * 1024
DAYS = 30
#: Larger archives are whole copies of this one, shifted in time (see _replicate).
BASE = 10_000_000
SETTINGS = {
    "your-tenant-url": "acme.eu.auth0.com",
    "your-tenant-domain": "acme.eu.auth0.com",
    "global_client_id": "DASHBOARD",
    "trusted-client_id-1": "trusted-a",
    "trusted-client_id-2": "trusted-b",
    "api_explorer_client_id": "API-EXPLORER",
}

# type by h = hash(i) % 1000 (per mille): a tenant's ordinary mix with a few attacks' traces
TYPES = [
    (650, "s", "login_success", "Successful login"),
    (760, "f", "login_failure", "Wrong email or password."),
    (800, "fp", "login_failure", "Wrong password"),
    (840, "ss", "signup", "Successful signup"),
    (890, "seacft", "token_exchange", "Authorization Code for Access Token"),
    (930, "sertft", "token_exchange", "Refresh Token for Access Token"),
    (945, "gd_send_pn", "mfa", "Guardian - Second factor notification sent"),
    (955, "gd_send_sms", "mfa", "Guardian - Second factor sms sent"),
    (965, "sapi", "management_api", "Update Brute-force settings"),
    (975, "limit_wc", "blocked", "Blocked Account"),
    (982, "pwd_leak", "breached_password", "Breached password"),
    (988, "ferrt", "token_exchange", "Unsuccessful Refresh Token exchange, reused refresh token detected"),
    (1000, "slo", "logout", "User successfully logged out"),
]


def _case(column: int) -> str:
    parts = " ".join(f"WHEN h < {bound} THEN '{row[column]}'" for bound, *row in [(b, t, c, d) for b, t, c, d in TYPES])
    return f"CASE {parts} END"


RAW_SQL = """
        -- text built with concat (values hold no quotes or backslashes): ~10x faster than json_object
        '{"log_id":"' || event_id || '","data":{"date":"' || strftime(timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ')
          || '","type":"' || type || '","description":"' || description || '","ip":"' || ip
          || '","user_id":"' || user_id || '","user_name":"' || user_name || '","client_id":"' || client_id
          || '","client_name":"' || client_name || '","hostname":"login.acme.example","user_agent":"' || user_agent
          || '","log_id":"' || event_id || '","details":'
          || CASE WHEN type = 'sapi' THEN '{"request":{"body":{"enabled":' || CASE WHEN h % 2 = 0 THEN 'true' ELSE 'false' END
               || '}},"response":{"statusCode":200,"body":{"enabled":' || CASE WHEN h % 2 = 0 THEN 'true' ELSE 'false' END
               || ',"shields":["admin_notification","block"]}}}'
             ELSE '{"prompts":[]}' END
          || '}}' AS raw
"""


def generate(events: int, folder: Path) -> float:
    import duckdb

    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == str(events):
        return 0.0
    if events > BASE:
        raise ValueError("archives above 10M events are copies of the 10M one (see archives())")
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET memory_limit = '3GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{OUT / 'tmp'}'")
    step_ms = DAYS * 86_400_000 // events
    per_day = -(-events // DAYS)
    started = time.perf_counter()
    # one COPY per day, streaming into DIR/date=YYYY-MM-DD/part-0.parquet (the `logs pull` layout)
    for day in range(DAYS):
        low, high = day * per_day, min(events, (day + 1) * per_day)
        if low >= high:
            break
        date = f"2026-10-{day + 1:02d}"
        (folder / f"date={date}").mkdir(parents=True, exist_ok=True)
        con.execute(f"""
    COPY (
      WITH base AS (
        SELECT i, hash(i) % 1000 AS h, hash(i * 7 + 1) % 200000 AS u, hash(i * 13 + 5) % 60000 AS n,
               TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_milliseconds(CAST(i * {step_ms} AS BIGINT)) AS ts
        FROM range({low}, {high}) r(i)
      ), typed AS (
        SELECT *, {_case(0)} AS type, {_case(1)} AS category, {_case(2)} AS description FROM base
      ), rows AS (
        SELECT printf('900%021d', i) AS event_id, ts AS timestamp, type, category, description,
               'auth0|' || u AS user_id, 'user' || u || '@example.com' AS user_name,
               'user' || u || '@example.com' AS email, 'Username-Password-Authentication' AS connection,
               CASE WHEN type = 'sapi' THEN 'm2m-' || (u % 7) ELSE 'spa-client' END AS client_id,
               'Acme' AS client_name,
               CASE WHEN n < 50000 THEN '10.' || (u % 250) || '.' || (u // 250 % 250) || '.' || (n % 200 + 1)
                    ELSE '203.0.113.' || (n % 250) END AS ip,
               CASE WHEN n % 11 = 0 THEN 'curl/8.4' ELSE 'Mozilla/5.0 Firefox/130.0' END AS user_agent,
               'DE' AS country_code, 'DEU' AS country_iso3, 'Germany' AS country_name, 'Berlin' AS city,
               52.5 + (u % 5) * 0.01 AS latitude, 13.4 AS longitude, FALSE AS is_mobile,
               'acme' AS tenant, 'log_stream' AS source, h
        FROM typed
      )
      SELECT * EXCLUDE (h),
        {RAW_SQL}
      FROM rows
    ) TO '{folder}/date={date}/part-0.parquet' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)
    """)
    seconds = time.perf_counter() - started
    marker.write_text(str(events))
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    return seconds


def _connect():
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{OUT / 'tmp'}'")
    return con


def _replicate(base: Path, copies: int, folder: Path, layout: str) -> float:
    """``copies`` consecutive periods of the ``base`` archive: copy k has ids suffixed ``-k`` and
    times shifted by k x 30 days (each day file rewritten by DuckDB into its new day directory)."""
    sys.path.insert(0, str(ROOT.parent))
    from authviz.auth0.archive import COMPRESSION, ROW_GROUP_ROWS

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    con = _connect()
    started = time.perf_counter()
    for k in range(copies):
        for day_dir in sorted(base.glob("date=*")):
            day = day_dir.name.split("=", 1)[1]
            new_day = con.execute(f"SELECT strftime(DATE '{day}' + INTERVAL {k * DAYS} DAY, '%Y-%m-%d')").fetchall()[0][
                0
            ]
            (folder / f"date={new_day}").mkdir(exist_ok=True)
            suffix = f"-{k}" if k else ""
            select = (
                f"SELECT * REPLACE (event_id || '{suffix}' AS event_id, timestamp + INTERVAL {k * DAYS} DAY AS timestamp) "
                f"FROM read_parquet('{day_dir}/*.parquet')"
            )
            target = folder / f"date={new_day}" / "part-0.parquet"
            # The derived columns do not depend on id or time, and a common shift and suffix keep
            # the base file's order (fixed-width ids): each file is copied as it is, in order.
            rows, codec = (ROW_GROUP_ROWS, COMPRESSION) if layout == "v2" else (122880, "zstd")
            con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet, COMPRESSION {codec}, ROW_GROUP_SIZE {rows})")
    (folder / ".complete").write_text(str(copies * BASE))
    return time.perf_counter() - started


def relayout(old: Path, folder: Path) -> float:
    """The events of the old-layout archive ``old`` rewritten in the archive layout (``copy_sql``)."""
    sys.path.insert(0, str(ROOT.parent))
    from authviz.auth0.archive import copy_sql

    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == (old / ".complete").read_text():
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    con = _connect()
    started = time.perf_counter()
    for day_dir in sorted(old.glob("date=*")):
        (folder / day_dir.name).mkdir(parents=True, exist_ok=True)
        con.execute(
            copy_sql(f"SELECT * FROM read_parquet('{day_dir}/*.parquet')", folder / day_dir.name / "part-0.parquet")
        )
    marker.write_text((old / ".complete").read_text())
    return time.perf_counter() - started


def archives(events: int, with_old: bool) -> tuple[Path | None, Path, float]:
    """(old-layout archive or None, new-layout archive, seconds spent generating) for ``events``."""
    old, new = OUT / f"archive-{events}", _new_layout(events)
    made = 0.0
    if events > BASE and events % BASE == 0:
        base_old, base_new = OUT / f"archive-{BASE}", _new_layout(BASE)
        made += generate(BASE, base_old) + relayout(base_old, base_new)
        if not _complete(new, events):
            made += _replicate(base_new, events // BASE, new, "v2")
        if with_old and not _complete(old, events):
            made += _replicate(base_old, events // BASE, old, "old")
        return (old if with_old else None), new, made
    made += generate(events, old) + relayout(old, new)
    return old, new, made


def _new_layout(events: int) -> Path:
    """Where the archive layout of ``events`` events is kept (named by its compression: an archive
    written with another codec is not reused)."""
    sys.path.insert(0, str(ROOT.parent))
    from authviz.auth0.archive import COMPRESSION

    return OUT / f"archive-{events}-v2-{COMPRESSION}"


def _complete(folder: Path, events: int) -> bool:
    marker = folder / ".complete"
    return marker.exists() and marker.read_text() == str(events)


def baseline(ref: str) -> Path | None:
    """``ref``'s ``authviz`` package exported under ``out/`` (the old code), or None without git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    folder = OUT / f"baseline-{sha}"
    if not (folder / "authviz").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT.parent), "archive", "--format=tar", sha, "authviz"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(folder: Path, memory_limit: str | None) -> dict:
    """One measurement, in this (fresh) process, with whichever ``authviz`` is first on the path."""
    import authviz
    from authviz.detections import DetectionEngine, TenantSettings, load_rules, packaged_rules

    rules = packaged_rules()
    known = {rule.id for rule in rules.rules}
    more = [rule for rule in load_rules([MORE_RULES]).rules if rule.id not in known]
    all_rules = rules.rules + more
    settings = TenantSettings({k: (v,) for k, v in SETTINGS.items()})
    per_rule = {}
    with DetectionEngine(memory_limit=memory_limit, temp_directory=str(OUT / "tmp")) as engine:
        engine.add_parquet(folder)
        engine.define_events()
        started = time.perf_counter()
        last = [started]

        def tick(rule):
            now = time.perf_counter()
            per_rule[rule.title[:60]] = round(now - last[0], 3)
            last[0] = now

        report = engine.run(all_rules, settings, progress=tick)
        seconds = time.perf_counter() - started
        findings = report.findings
        failed = [message for _, message in report.failed]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {
        "rules": len(all_rules),
        "ran": len(report.ran),
        "findings": findings,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak),
        "failed": failed,
        "slowest": sorted(per_rule.items(), key=lambda kv: -kv[1])[:5],
        "code_path": str(Path(authviz.__file__).parent),
    }


def measure(code: Path, folder: Path, memory_limit: str | None) -> dict:
    """``run`` in a fresh process with ``code`` first on the path, the load average before and after."""
    command = [sys.executable, __file__, "--child", str(folder)] + (
        ["--memory-limit", memory_limit] if memory_limit else []
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    before = load_average()
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1], "load": [before, load_average()]}
    return {**json.loads(done.stdout), "load": [before, load_average()]}


def compare(events: int) -> dict:
    """Built-in rules on DuckDB (events in memory) vs run_detections on the same pandas frame."""
    sys.path.insert(0, str(ROOT.parent))
    import duckdb

    from authviz.analytics import run_detections
    from authviz.auth0 import conform
    from authviz.detections import DetectionEngine, packaged_rules

    folder = OUT / f"archive-{events}"
    generate(events, folder)
    frame = conform(duckdb.sql(f"SELECT * EXCLUDE (date) FROM read_parquet('{folder}/**/*.parquet')").df())
    rules = packaged_rules(["builtin"]).rules
    rows = []
    for attempt in range(2):
        started = time.perf_counter()
        pandas_findings = run_detections(frame)
        pandas_s = time.perf_counter() - started
        with DetectionEngine() as engine:
            engine.add_frame(frame)
            engine.define_events()
            started = time.perf_counter()
            engine.run(rules)
            duck_s = time.perf_counter() - started
            duck_findings = len(engine.findings())
        rows.append(
            {
                "attempt": attempt + 1,
                "run_detections_s": round(pandas_s, 2),
                "duckdb_rules_s": round(duck_s, 2),
                "findings_pandas": len(pandas_findings),
                "findings_duckdb": duck_findings,
            }
        )
    return {"events": events, "runs": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--events", type=int, action="append", help="archive size(s) (default 1M and 10M; 100M is --events 100000000)"
    )
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit (default: none up to 10M, 2GB above)")
    parser.add_argument("--repeat", type=int, default=1, help="measurements of each code per size, interleaved")
    parser.add_argument("--baseline", default="main", metavar="REF", help="git commit of the old code (default: main)")
    parser.add_argument(
        "--with-old", action="store_true", help="above 10M events, run the old code too (by default only up to 10M)"
    )
    parser.add_argument(
        "--compare", type=int, metavar="N", help="compare built-in rules with run_detections on N events"
    )
    parser.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(Path(args.child), args.memory_limit)))
        return 0
    if args.compare:
        print(json.dumps(compare(args.compare), indent=2))
        return 0
    new_code = ROOT.parent
    for events in args.events or [1_000_000, 10_000_000]:
        with_old = events <= BASE or args.with_old
        old_archive, new_archive, made = archives(events, with_old)
        old_code = baseline(args.baseline) if with_old else None
        limit = args.memory_limit or ("2GB" if events > BASE else None)
        rows = []
        for attempt in range(args.repeat):
            if old_code is not None and old_archive is not None:
                rows.append({"code": f"old ({args.baseline}), old layout", **measure(old_code, old_archive, limit)})
            rows.append({"code": "new, new layout", **measure(new_code, new_archive, limit)})
        target = f"<= {TARGET_10M_S:.0f} s at 10M" if events <= BASE else f"peak RSS <= {TARGET_RSS_MIB} MiB"
        print(
            json.dumps(
                {
                    "events": events,
                    "generated_s": round(made, 1),
                    "archive_gib": {
                        "old": _gib(old_archive) if old_archive is not None else None,
                        "new": _gib(new_archive),
                    },
                    "memory_limit": limit,
                    "target": target,
                    "runs": rows,
                },
                indent=2,
            ),
            flush=True,
        )
        for row in rows:
            print(
                f"{events:>11,} events  {row['code']:<30} {row.get('seconds', '-'):>8} s  "
                f"peak RSS {row.get('peak_rss_mib', '-'):>6} MiB  findings {row.get('findings', '-'):>10}  "
                f"load {row['load'][0]} -> {row['load'][1]}  {row.get('error', '')}",
                flush=True,
            )
        print(f"target: {target}", flush=True)
    return 0


def _gib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*.parquet")) / 2**30, 2)


if __name__ == "__main__":
    raise SystemExit(main())
