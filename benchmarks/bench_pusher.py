"""Cost of the pure authviz.pusher functions on the hub's hot paths.

Run: .venv/bin/python benchmarks/bench_pusher.py
Prints microseconds per call (best of 5 repeats of timeit), for the checks every publish,
subscription and HTTP API request pays.
"""

from __future__ import annotations

import platform
import timeit

from authviz.pusher import (
    authorize_channel,
    encrypt_payload,
    presence_channel_data,
    shared_secret,
    sign_request,
    validate_channel_name,
    validate_channels,
    validate_data_size,
    validate_event_name,
    verify_channel_auth,
    verify_request,
)

KEY, SECRET, SOCKET = "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234"


def main() -> None:
    import argparse

    argparse.ArgumentParser(
        description="Microbenchmark of authviz.pusher signing, validation and encryption (microseconds per call)."
    ).parse_args()
    body = b'{"name":"foo","channels":["project-3"],"data":"' + b"x" * 1000 + b'"}'
    signed = sign_request(KEY, SECRET, "POST", "/apps/3/events", None, body, timestamp=1000)
    cd = presence_channel_data("user-1", {"name": "Ada"})
    presence_auth = authorize_channel(KEY, SECRET, SOCKET, "presence-room", channel_data=cd)["auth"]
    private_auth = authorize_channel(KEY, SECRET, SOCKET, "private-room")["auth"]
    ascii_data = "x" * 1000
    utf8_data = "é" * 1000
    secret = shared_secret("private-encrypted-room", bytes(32))
    cases = {
        "validate_channel_name('private-room')": lambda: validate_channel_name("private-room"),
        "validate_channels(10 names)": lambda: validate_channels([f"c{i}" for i in range(10)]),
        "validate_event_name": lambda: validate_event_name("auth0-event"),
        "validate_data_size(1000 ASCII chars)": lambda: validate_data_size(ascii_data),
        "validate_data_size(1000 non-ASCII chars)": lambda: validate_data_size(utf8_data),
        "verify_channel_auth(private)": lambda: verify_channel_auth(KEY, SECRET, SOCKET, "private-room", private_auth),
        "verify_channel_auth(presence)": lambda: verify_channel_auth(
            KEY, SECRET, SOCKET, "presence-room", presence_auth, cd
        ),
        "verify_request(POST, 1 KB body)": lambda: verify_request(
            SECRET, "POST", "/apps/3/events", signed, body, now=1000
        ),
        "sign_request(POST, 1 KB body)": lambda: sign_request(
            KEY, SECRET, "POST", "/apps/3/events", None, body, timestamp=1000
        ),
        "encrypt_payload(1000 chars)": lambda: encrypt_payload(ascii_data, secret),
    }
    print(f"Python {platform.python_version()}")
    for name, fn in cases.items():
        n = 20_000
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n
        print(f"{name:45s} {best * 1e6:8.2f} us")


if __name__ == "__main__":
    main()
