"""authviz.live.wire: the server-frame parser the connection reads with."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authviz.live.wire import OP_CLOSE, OP_PING, OP_TEXT, WireError, WireReader, parse_close


def frame(payload: bytes, opcode: int = OP_TEXT, fin: bool = True, mask: bool = False, rsv: int = 0) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, n | (0x80 if mask else 0)])
    elif n < 65536:
        head = bytes([b0, 126 | (0x80 if mask else 0)]) + struct.pack("!H", n)
    else:
        head = bytes([b0, 127 | (0x80 if mask else 0)]) + struct.pack("!Q", n)
    return head + (b"\0\0\0\0" if mask else b"") + payload


def test_lengths_of_every_size_class():
    messages = [b"", b"a" * 125, b"b" * 126, b"c" * 65535, b"d" * 70000]
    reader = WireReader()
    assert reader.feed(b"".join(frame(m) for m in messages)) == [(OP_TEXT, m) for m in messages]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.lists(st.integers(1, 400), max_size=20))
def test_any_chunking_gives_the_same_messages(messages, cuts):
    stream = b"".join(frame(m) for m in messages)
    reader = WireReader()
    out, pos = [], 0
    for cut in cuts:
        out += reader.feed(stream[pos : pos + cut])
        pos += cut
    out += reader.feed(stream[pos:])
    assert out == [(OP_TEXT, m) for m in messages]


def test_fragments_are_reassembled_around_control_frames():
    reader = WireReader()
    data = (
        frame(b"hel", fin=False) + frame(b"ping", OP_PING) + frame(b"lo", opcode=0, fin=False) + frame(b"!", opcode=0)
    )
    assert reader.feed(data) == [(OP_PING, b"ping"), (OP_TEXT, b"hello!")]


def test_close_frame_code_and_reason():
    reader = WireReader()
    [(opcode, payload)] = reader.feed(frame(struct.pack("!H", 4200) + b"bye", OP_CLOSE))
    assert opcode == OP_CLOSE and parse_close(payload) == (4200, "bye")
    assert parse_close(b"") == (None, "")


@pytest.mark.parametrize(
    "data, code",
    [
        (frame(b"x", mask=True), 1002),
        (frame(b"x", rsv=0x40), 1002),
        (frame(b"x", opcode=0x3), 1002),
        (frame(b"x", opcode=0), 1002),
        (frame(b"p" * 126, OP_PING), 1002),
        (frame(b"a", fin=False) + frame(b"b"), 1002),
        (frame(b"z" * 2000), 1009),
    ],
)
def test_protocol_violations_name_the_close_code(data, code):
    with pytest.raises(WireError) as info:
        WireReader(max_message=1000).feed(data)
    assert info.value.code == code


def test_fragmented_message_over_the_limit():
    reader = WireReader(max_message=10)
    with pytest.raises(WireError) as info:
        reader.feed(frame(b"123456", fin=False) + frame(b"789012", opcode=0))
    assert info.value.code == 1009
