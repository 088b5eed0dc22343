"""Benchmark: authviz's bulk reader against pandas.json_normalize and bare JSON decoding.

Generates N realistic Log Streaming records (``{"log_id", "data"}``, about 1 KB each, a mix of
types and countries, ``location_info`` on some) once to a temporary JSON lines file (not timed),
then measures each method in its own subprocess so peak memory (``ru_maxrss``) is honest:

- ``authviz``: ``authviz.auth0.read_logs(path)`` -> the schema DataFrame (parsing, categories,
  countries, timestamps, raw text, dedup), pyarrow's JSON reader (the default engine).
- ``authviz_duckdb``: the same with ``engine="duckdb"`` (DuckDB's ``read_json``).
- ``authviz_baseline``: ``read_logs(path)`` of another version of authviz, imported from the
  source directory given with ``--baseline DIR`` (e.g. ``git archive <commit> authviz``
  unpacked): old and new code measured in the same run.
- ``json_normalize``: decode every line with orjson, then ``pandas.json_normalize`` (parsing
  included; orjson is the faster decoder, so this favours the baseline).
- ``json_loads`` / ``orjson_loads``: decode every line into a list of dicts, nothing else.

Every method reads the file from disk inside its timed section.

    python benchmarks/bench_parse.py                # 1,000,000 records
    python benchmarks/bench_parse.py --records 100000
    python benchmarks/bench_parse.py --baseline /tmp/authviz-old   # + the code of another commit
    python benchmarks/bench_parse.py --file r1m.jsonl --baseline /tmp/old --methods authviz,authviz_baseline,json_normalize --rounds 3

The load average (1 minute, before-after) is printed beside every number: on a shared machine
compare only runs made at similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

METHODS = ("authviz", "authviz_duckdb", "authviz_baseline", "json_normalize", "orjson_loads", "json_loads")

_TYPES = [
    ("s", 30),
    ("fsa", 14),
    ("seacft", 12),
    ("ssa", 6),
    ("f", 4),
    ("fp", 5),
    ("fu", 3),
    ("ss", 5),
    ("fs", 1),
    ("slo", 5),
    ("sapi", 4),
    ("gd_send_pn", 2),
    ("gd_auth_succeed", 2),
    ("sertft", 2),
    ("limit_wc", 0.3),
    ("pwd_leak", 0.3),
    ("scp", 0.5),
    ("scpr", 0.5),
    ("w", 1),
    ("mfar", 1),
    ("signup_pwd_leak", 0.2),
    ("ferrt", 0.2),
    ("xyz_unknown", 0.1),
]
_DESCRIPTIONS = {
    "f": "Wrong email or password.",
    "fp": "Wrong email or password.",
    "fu": "Wrong email or password.",
    "fsa": "Login required",
    "w": "Deprecated API used",
}
_COUNTRIES = [  # code, code3, name, city, lat, lon, weight
    ("US", "USA", "United States", "Seattle", 47.61, -122.33, 30),
    ("GB", "GBR", "United Kingdom", "London", 51.51, -0.13, 10),
    ("DE", "DEU", "Germany", "Berlin", 52.52, 13.40, 8),
    ("FR", "FRA", "France", "Paris", 48.86, 2.35, 6),
    ("IN", "IND", "India", "Bengaluru", 12.97, 77.59, 10),
    ("BR", "BRA", "Brazil", "São Paulo", -23.55, -46.63, 6),
    ("JP", "JPN", "Japan", "Tokyo", 35.68, 139.69, 5),
    ("AU", "AUS", "Australia", "Sydney", -33.87, 151.21, 4),
    ("KR", "KOR", "South Korea", "Seoul", 37.57, 126.98, 3),
    ("RU", "RUS", "Russia", "Moscow", 55.76, 37.62, 3),
    ("IR", "IRN", "Iran", "Tehran", 35.69, 51.39, 1),
    ("NG", "NGA", "Nigeria", "Lagos", 6.52, 3.38, 3),
    ("CA", "CAN", "Canada", "Toronto", 43.65, -79.38, 5),
    ("MX", "MEX", "Mexico", "Mexico City", 19.43, -99.13, 3),
    ("ZA", "ZAF", "South Africa", "Cape Town", -33.92, 18.42, 2),
    ("VN", "VNM", "Vietnam", "Hanoi", 21.03, 105.85, 1),
]
_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
]
_CLIENTS = [
    ("aI61p8I8aFjmYRliLWgvM9ev97kCCNDB", "Default App"),
    ("7RyK6txXYPZTQGOAwwln6Eoie0gVZ2cu", "CloudSync Platform"),
    ("WflrpooXWyDv3vzf6LxIzYBd6fafewjw", "Thiscovery"),
    ("zxPFD7BlvbiwfAzvi6WZNxDwhwFjyiV5", "SSO Manager (React)"),
]
_CONNECTIONS = [
    ("Username-Password-Authentication", "con_C85rtu1sSH9UFXmR", "auth0", "database"),
    ("google-oauth2", "con_8zwbqZgUEdwZtyWc", "google-oauth2", "social"),
    ("enterprise-db", "con_nD3XkfFNuYUPnmbp", "auth0", "database"),
]


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` log-stream records as JSON lines (about 1 KB each)."""
    rng = random.Random(seed)
    types = rng.choices([t for t, _ in _TYPES], weights=[w for _, w in _TYPES], k=count)
    countries = rng.choices(_COUNTRIES, weights=[c[6] for c in _COUNTRIES], k=count)
    start = 1_717_200_000_000
    with path.open("wb") as out:
        for index in range(count):
            code, code3, name, city, lat, lon, _ = countries[index]
            client_id, client_name = _CLIENTS[index % len(_CLIENTS)]
            connection, connection_id, strategy, strategy_type = _CONNECTIONS[index % 3]
            millis = start + index * 37
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"
            log_id = f"900{millis:017d}{index:020d}{rng.getrandbits(40):016d}"
            user = rng.randrange(200_000)
            data = {
                "date": stamp,
                "type": types[index],
                "description": _DESCRIPTIONS.get(types[index], ""),
                "connection": connection,
                "connection_id": connection_id,
                "client_id": client_id,
                "client_name": client_name,
                "ip": f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "user_agent": _AGENTS[index % len(_AGENTS)],
                "details": {
                    "prompts": [
                        {
                            "name": "login",
                            "flow": "universal-login",
                            "initiatedAt": millis - 9000,
                            "completedAt": millis - 200,
                            "user_id": f"auth0|{user:024x}",
                            "user_name": f"user{user}@example.com",
                            "timers": {"rules": rng.randrange(400)},
                            "elapsedTime": rng.randrange(9000),
                        }
                    ],
                    "initiatedAt": millis - 9500,
                    "completedAt": millis,
                    "elapsedTime": 9500,
                    "session_id": f"{rng.getrandbits(128):032x}",
                    "stats": {"loginsCount": rng.randrange(1, 500)},
                },
                "hostname": "acme-prod.eu.auth0.com",
                "user_id": f"auth0|{user:024x}",
                "user_name": f"user{user}@example.com",
                "strategy": strategy,
                "strategy_type": strategy_type,
                "$event_schema": {"version": "1.0.0"},
                "log_id": log_id,
                "tenant_name": "acme-prod",
            }
            if index % 5 < 2:  # location_info on 40% of records
                data["location_info"] = {
                    "country_code": code,
                    "country_code3": code3,
                    "country_name": name,
                    "city_name": city,
                    "latitude": lat,
                    "longitude": lon,
                    "time_zone": "UTC",
                    "continent_code": "XX",
                }
            if index % 7 == 0:
                data["security_context"] = {
                    "ja3": f"{rng.getrandbits(128):032x}",
                    "ja4": f"{rng.getrandbits(128):036x}",
                }
            out.write(orjson.dumps({"log_id": log_id, "data": data}))
            out.write(b"\n")


def measure(method: str, path: Path) -> dict[str, object]:
    """Run one method on ``path`` in this process; seconds, events and peak RSS."""
    import pandas as pd  # imported before the clock starts (same for every method)

    import authviz.auth0 as auth0

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    began = time.perf_counter()
    if method in ("authviz", "authviz_baseline"):
        result = auth0.read_logs(path)
        events = len(result.frame)
    elif method == "authviz_duckdb":
        import duckdb  # noqa: F401 - imported before the clock starts, like pandas

        result = auth0.read_logs(path, engine="duckdb")
        events = len(result.frame)
    elif method == "json_normalize":
        with path.open("rb") as lines:
            records = [orjson.loads(line) for line in lines if line.strip()]
        frame = pd.json_normalize(records)
        events = len(frame)
    elif method == "orjson_loads":
        with path.open("rb") as lines:
            records = [orjson.loads(line) for line in lines if line.strip()]
        events = len(records)
    elif method == "json_loads":
        with path.open("rb") as lines:
            records = [json.loads(line) for line in lines if line.strip()]
        events = len(records)
    else:
        raise SystemExit(f"unknown method {method!r}")
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss
    return {
        "method": method,
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds),
        "peak_rss_mb": round(peak / 1024),
        "rss_before_mb": round(base_rss / 1024),
        "authviz_from": str(Path(auth0.__file__).parents[2]),
        "load": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}",
        "cpu_s": round(usage.ru_utime + usage.ru_stime - cpu_before, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records to generate (default 1,000,000)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    parser.add_argument("--file", type=Path, help="use this JSON lines file instead of generating one")
    parser.add_argument("--measure", choices=METHODS, help=argparse.SUPPRESS)  # child-process mode
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per method")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the authviz methods this many times, interleaved with each other (json_normalize, "
        "orjson and json once); the best of each is compared",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="source directory of another authviz version (holding authviz/) for authviz_baseline",
    )
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.file)))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench_parse_") as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "records.jsonl"
            began = time.perf_counter()
            generate(path, args.records)
            print(
                f"generated {args.records:,} records, {path.stat().st_size / 1e6:,.0f} MB "
                f"({path.stat().st_size / args.records:,.0f} B/record) in {time.perf_counter() - began:.1f} s",
                flush=True,
            )
        results = []
        chosen = args.methods.split(",")
        repeated = [method for method in chosen if method.startswith("authviz")]
        once = [method for method in chosen if not method.startswith("authviz")]
        order = repeated + once + repeated * (args.rounds - 1)
        for method in order:
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            if method == "authviz_baseline":
                if args.baseline is None:
                    continue  # only with --baseline
                env["PYTHONPATH"] = str(args.baseline.resolve())
            command = [sys.executable, __file__, "--measure", method, "--file", str(path)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env, cwd=tmp)
            except subprocess.TimeoutExpired:
                print(f"{method:>15}: timed out after {args.timeout:.0f} s", flush=True)
                continue
            if done.returncode != 0:
                print(f"{method:>15}: failed ({done.returncode}): {done.stderr.strip()[-400:]}", flush=True)
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            print(
                f"{method:>16}: {result['events']:>9,} events in {result['seconds']:>8.2f} s = "
                f"{result['events_per_s']:>9,} events/s, CPU {result['cpu_s']:>7.2f} s, peak RSS {result['peak_rss_mb']:>6,} MB "
                f"(after imports {result['rss_before_mb']} MB), load average {result['load']}, from {result['authviz_from']}",
                flush=True,
            )
        speeds: dict[str, int] = {}
        for result in results:  # the best run of each method
            speeds[result["method"]] = max(speeds.get(result["method"], 0), result["events_per_s"])
        if args.rounds > 1:
            for method in repeated:
                runs = sorted(r["seconds"] for r in results if r["method"] == method)
                cpu = sorted(r["cpu_s"] for r in results if r["method"] == method)
                if runs:
                    print(
                        f"{method}: {len(runs)} runs, median {statistics.median(runs):.2f} s "
                        f"(best {runs[0]:.2f}, worst {runs[-1]:.2f}), median CPU {statistics.median(cpu):.2f} s"
                    )
            print("ratios below use the best run of each method")
        for mine in ("authviz", "authviz_duckdb", "authviz_baseline"):
            for other in ("json_normalize", "orjson_loads", "json_loads"):
                if mine in speeds and other in speeds:
                    print(f"{mine} / {other}: {speeds[mine] / speeds[other]:.1f}x")
        if "authviz" in speeds and "authviz_baseline" in speeds:
            print(f"authviz / authviz_baseline (new / old): {speeds['authviz'] / speeds['authviz_baseline']:.2f}x")
        if "authviz" in speeds and "json_normalize" in speeds:
            ratio = speeds["authviz"] / speeds["json_normalize"]
            print(
                f"target: read_logs >= 10x json_normalize (whole process): {ratio:.1f}x, {'met' if ratio >= 10 else 'NOT met'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
