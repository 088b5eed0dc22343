"""Benchmark: every detection over 10,000,000 events (target: all of them in <= 10 s).

The frame is built synthetically with numpy/pyarrow (not through the simulator, which is
per-record Python): a realistic type mix over 30 days, 1M users, 2M IPs, 58 cities, plus a few
hundred injected attack bursts of every kind so each detection has real work. Reports the time of
each detection, the total of ``run_detections`` and the peak resident memory during detection
(VmHWM, reset after building the frame).

    .venv/bin/python benchmarks/bench_analytics.py [N_EVENTS]
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from authviz.analytics import DETECTIONS, run_detections  # noqa: E402
from authviz.analytics.detections import prepare  # noqa: E402
from authviz.auth0 import schema  # noqa: E402
from authviz.auth0.log_types import category_for  # noqa: E402
from authviz.simulator import COUNTRIES  # noqa: E402

MIX = {
    "s": 0.46,
    "seacft": 0.14,
    "sertft": 0.05,
    "ssa": 0.05,
    "fsa": 0.06,
    "slo": 0.09,
    "fp": 0.04,
    "fu": 0.015,
    "f": 0.006,
    "ss": 0.03,
    "fs": 0.004,
    "scp": 0.006,
    "scpr": 0.009,
    "gd_send_pn": 0.015,
    "ferrt": 0.002,
    "limit_wc": 0.0005,
    "limit_mu": 0.0002,
    "pwd_leak": 0.0001,
    "signup_pwd_leak": 0.0001,
}


def _as_string_series(arr: pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr.cast(pa.large_string())])))


def _strings(values: list[str], codes: np.ndarray) -> pd.Series:
    """A schema string Series from a small dictionary and codes (pyarrow take: no Python per row)."""
    return _as_string_series(pc.take(pa.array(values, type=pa.large_string()), pa.array(codes)))


def _formatted(prefix: str, numbers: np.ndarray, suffix: str = "") -> pd.Series:
    return _as_string_series(pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), suffix, ""))


def build(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    types = list(MIX)
    p = np.array(list(MIX.values()))
    type_codes = rng.choice(len(types), n, p=p / p.sum())
    start = np.datetime64("2026-10-01T00:00:00", "ns").astype(np.int64)
    t = np.sort(rng.integers(start, start + 30 * 86400 * 10**9, n))
    users = rng.integers(0, 1_000_000, n)
    cities = [(c, city) for c in COUNTRIES for city in c.cities]  # 58
    home = (np.arange(1_000_000) * 7919) % len(cities)  # each user lives in one city
    city_codes = home[users]
    ips = users * 2 + rng.integers(0, 2, n)  # two IPs per user
    # injected bursts: brute force / stuffing / push fatigue / travel
    k = 300
    at = rng.integers(0, n - 100, k)
    for j, i in enumerate(at):
        block = slice(i, i + 12)
        if j % 3 == 0:  # brute force on one user
            type_codes[block] = types.index("fp")
            users[block] = users[i]
        elif j % 3 == 1:  # credential stuffing from one IP
            type_codes[block] = types.index("fu")
            ips[block] = 10**8 + j
        else:  # MFA push fatigue
            type_codes[block] = types.index("gd_send_pn")
            users[block] = users[i]
    far = rng.integers(0, n, 200)
    city_codes[far] = (city_codes[far] + len(cities) // 2) % len(cities)  # a far login now and then
    lat = np.array([c[1].latitude for c in cities])[city_codes]
    lon = np.array([c[1].longitude for c in cities])[city_codes]
    descriptions = np.where(np.array(types)[type_codes] == "ferrt", 1, 0)
    descriptions[np.flatnonzero(descriptions)[::10]] = 2  # a tenth of ferrt are reuse
    frame = pd.DataFrame(
        {
            "event_id": _formatted("900", np.arange(n, dtype=np.int64) + 10**15),
            "timestamp": pd.to_datetime(t, utc=True),
            "type": _strings(types, type_codes),
            "category": pd.Categorical.from_codes(
                np.array([schema.CATEGORIES.index(category_for(x)) for x in types])[type_codes],
                dtype=schema.CATEGORY_DTYPE,
            ),
            "description": _strings(
                [
                    "",
                    "Unsuccessful Refresh Token exchange, invalid refresh token",
                    "Unsuccessful Refresh Token exchange, reused refresh token detected",
                ],
                descriptions,
            ),
            "user_name": _formatted("user", users, "@example.com"),
            "ip": _formatted("10.", ips),
            "latitude": lat,
            "longitude": lon,
            "city": _strings([c[1].name for c in cities], city_codes),
            "country_code": _strings([c[0].code for c in cities], city_codes),
            "tenant": _strings(["acme-prod"], np.zeros(n, dtype=np.int64)),
        }
    )
    return schema.conform(frame)


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="All detections over a synthetic event frame: wall and CPU time per detection, peak memory."
    )
    parser.add_argument(
        "events", nargs="?", type=int, default=10_000_000, help="events in the synthetic frame (default 10,000,000)"
    )
    n = parser.parse_args().events
    frame, built, _ = _timed(build, n)
    print(
        f"built {len(frame):,} events in {built:.1f} s; frame {frame.memory_usage(deep=True).sum() / 2**20:,.0f} MiB; RSS peak {_vmhwm_mb():,.0f} MiB"
    )
    print(
        f"machine: {platform.machine()}, {_cpu()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"pandas {pd.__version__}, numpy {np.__version__}, pyarrow {pa.__version__}; load average {_load()}"
    )
    _reset_peak()
    base = _vmhwm_mb()
    prepared, wall, cpu = _timed(prepare, frame)
    print(f"  {'prepare (once)':<22} {wall:6.2f} s wall {cpu:6.2f} s CPU")
    for name, detect in DETECTIONS.items():
        found, wall, cpu = _timed(detect, prepared)
        print(f"  {name:<22} {wall:6.2f} s wall {cpu:6.2f} s CPU  {len(found):6,} findings")
    del prepared
    _reset_peak()
    base = _vmhwm_mb()
    found, wall, cpu = _timed(run_detections, frame)
    print(
        f"run_detections (all, from the raw frame): {wall:.2f} s wall, {cpu:.2f} s CPU, {len(found):,} findings; "
        f"peak RSS {_vmhwm_mb():,.0f} MiB (+{_vmhwm_mb() - base:,.0f} MiB over the frame); load average {_load()}"
    )
    print("target <= 10 s:", "MET" if wall <= 10 else ("MET in CPU time (machine shared)" if cpu <= 10 else "NOT MET"))


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


if __name__ == "__main__":
    main()
