"""The sans-io NATS protocol: parsing what a server sends (split anywhere, fuzzed,
hostile) and encoding what the client sends."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triomas._net.nats.errors import NatsArgumentError, NatsProtocolError
from triomas._net.nats.events import LostPublish, lost_publishes
from triomas._net.nats.protocol import (
    MAX_CONTROL_LINE,
    PING,
    Err,
    Event,
    Info,
    Msg,
    Ok,
    Parser,
    Ping,
    Pong,
    encode_connect,
    encode_headers,
    encode_hpub,
    encode_pub,
    encode_sub,
    encode_unsub,
    is_publish,
    parse_headers,
    parse_pub,
    publish_size,
)

STREAM = (
    b'INFO {"server_id":"X","max_payload":1048576,"headers":true}\r\n'
    b"MSG a.b 1 5\r\nhello\r\n"
    b"MSG a 2 r.x 0\r\n\r\n"
    b"HMSG _INBOX.x.1 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    b"PING\r\nPONG\r\n+OK\r\n"
    b"-ERR 'Slow Consumer'\r\n"
    b"HMSG s 4 r 24 27\r\nNATS/1.0\r\nK: v\r\nK: w\r\n\r\nabc\r\n"
    b"msg\tlower  5 3\r\nxyz\r\n"
)


def _shape(events: list[Event]) -> list[object]:
    return [
        (e.subject, e.sid, e.reply, e.payload, e.headers, e.status) if isinstance(e, Msg) else e
        for e in events
    ]


EXPECTED = [
    Info({"server_id": "X", "max_payload": 1048576, "headers": True}),
    ("a.b", 1, None, b"hello", None, None),
    ("a", 2, "r.x", b"", None, None),
    ("_INBOX.x.1", 3, None, b"", {}, 503),
    Ping(),
    Pong(),
    Ok(),
    Err("Slow Consumer"),
    ("s", 4, "r", b"abc", {"K": ["v", "w"]}, None),
    ("lower", 5, None, b"xyz", None, None),
]


def test_parses_every_kind_of_line() -> None:
    assert _shape(Parser().feed(STREAM)) == EXPECTED


def test_any_two_split_points_give_the_same_events() -> None:
    for i in range(0, len(STREAM), 3):
        for j in range(i, len(STREAM), 5):
            parser = Parser()
            events = parser.feed(STREAM[:i]) + parser.feed(STREAM[i:j])
            events += parser.feed(STREAM[j:])
            assert _shape(events) == EXPECTED, (i, j)
            assert parser.buffered == 0


def test_byte_by_byte() -> None:
    parser = Parser()
    events: list[Event] = []
    for i in range(len(STREAM)):
        events += parser.feed(bytearray(STREAM[i : i + 1]))
    assert _shape(events) == EXPECTED
    assert all(type(e.payload) is bytes for e in events if isinstance(e, Msg))


def test_a_large_payload_in_many_chunks_is_joined_once() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    data = b"MSG big 9 %d\r\n%b\r\nPING\r\n" % (len(payload), payload)
    parser = Parser()
    events: list[Event] = []
    for i in range(0, len(data), 1000):
        events += parser.feed(data[i : i + 1000])
    assert len(events) == 2
    assert isinstance(events[0], Msg)
    assert events[0].payload == payload


def test_status_lines_and_headers() -> None:
    assert parse_headers(b"NATS/1.0 503\r\n\r\n") == (503, "", {})
    assert parse_headers(b"NATS/1.0 408 Request Timeout\r\nA: 1\r\n\r\n") == (
        408,
        "Request Timeout",
        {"A": ["1"]},
    )
    # Header content comes from other clients: lenient, never fatal.
    assert parse_headers(b"garbage\r\nno colon\r\nK:  v  \r\n\r\n") == (None, "", {"K": ["v"]})
    assert parse_headers(b"NATS/1.0 xyz\r\n\xff\xfe: \xff\r\n\r\n")[0] is None


def test_undecodable_subjects_survive_a_round_trip() -> None:
    (msg,) = Parser().feed(b"MSG a.\xff 1 0\r\n\r\n")
    assert isinstance(msg, Msg)
    assert msg.subject.encode("utf-8", "surrogateescape") == b"a.\xff"


@pytest.mark.parametrize(
    "data",
    [
        b"HELLO\r\n",
        b"\r\n",
        b"MSG a\r\n",
        b"MSG a 1 2 3 4\r\n",
        b"MSG a x 1\r\nx\r\n",
        b"MSG a 1 -1\r\n",
        b"MSG a 1 +1\r\nx\r\n",
        b"MSG a 1 1_0\r\n",
        b"MSG a 1 3\r\nabcd\r\n",  # payload longer than announced
        b"MSG a 1 1\r\nxyz",  # no CRLF after the payload
        b"HMSG a 1 10 5\r\n",  # header larger than the message
        b"HMSG a 1 5\r\n",
        b"INFO [1, 2]\r\n",
        b"INFO {not json}\r\n",
        b"INFO " + b"[" * 50_000 + b"\r\n",
        b"PINGX\r\n",
        b"MSG a 1 9999999999999\r\n",
    ],
)
def test_malformed_input_is_a_protocol_error(data: bytes) -> None:
    parser = Parser()
    with pytest.raises(NatsProtocolError):
        parser.feed(data)
    with pytest.raises(NatsProtocolError):
        parser.feed(b"PING\r\n")  # broken for good


def test_oversize_control_lines_are_refused_before_they_are_buffered() -> None:
    parser = Parser()
    with pytest.raises(NatsProtocolError, match="longer than"):
        parser.feed(b"MSG " + b"a" * MAX_CONTROL_LINE)
    parser = Parser()
    parser.feed(b"M" * (MAX_CONTROL_LINE - 10))
    with pytest.raises(NatsProtocolError, match="longer than"):
        parser.feed(b"M" * 20)
    # INFO has a longer limit of its own, and no more.
    long_info = b'INFO {"x":"' + b"y" * 20_000 + b'"}\r\n'
    assert len(Parser().feed(long_info)) == 1
    with pytest.raises(NatsProtocolError, match="longer than"):
        Parser(max_info_line=10_000).feed(long_info)
    with pytest.raises(NatsProtocolError, match="longer than"):
        Parser(max_info_line=10_000).feed(long_info[:15_000])


def test_payloads_over_the_limit_are_refused_from_their_control_line() -> None:
    parser = Parser(max_payload=100)
    assert len(parser.feed(b"MSG a 1 100\r\n" + b"x" * 100 + b"\r\n")) == 1
    with pytest.raises(NatsProtocolError, match="over the limit"):
        parser.feed(b"MSG a 1 101\r\n")
    with pytest.raises(NatsProtocolError, match="over the limit"):
        Parser(max_payload=100).feed(b"HMSG a 1 12 101\r\n")
    assert Parser(max_payload=100).buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=4))
def test_fuzz_random_bytes_parse_or_fail_cleanly(data: bytes, cuts: list[int]) -> None:
    parser = Parser(max_payload=256, max_control_line=64, max_info_line=128)
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    try:
        for a, b in itertools.pairwise(points):
            parser.feed(data[a:b])
    except NatsProtocolError:
        return
    # What is kept is an unfinished line or payload, within the limits.
    assert parser.buffered <= 256 + 2 + 128


_token = st.text("abcXYZ019-_", min_size=1, max_size=8)
_subject = st.lists(_token, min_size=1, max_size=4).map(".".join)


@st.composite
def _server_messages(draw: st.DrawFn) -> tuple[bytes, list[object]]:
    parts: list[bytes] = []
    expected: list[object] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["msg", "hmsg", "ping", "pong", "err"]))
        if kind in ("msg", "hmsg"):
            subject = draw(_subject)
            reply = draw(st.none() | _subject)
            payload = draw(st.binary(max_size=80))
            sid = draw(st.integers(1, 10**6))
            frame = (
                encode_pub(subject, payload, reply)
                if kind == "msg"
                else encode_hpub(subject, payload, {"K": draw(_token)}, reply)
            )
            line, rest = frame.split(b"\r\n", 1)
            op, name, *args = line.split(b" ")
            parts.append(b" ".join([op.replace(b"PUB", b"MSG"), name, b"%d" % sid, *args]))
            parts.append(b"\r\n" + rest)
            expected.append((subject, sid, reply, payload))
        elif kind == "err":
            parts.append(b"-ERR 'x'\r\n" if draw(st.booleans()) else b"-ERR x\r\n")
            expected.append(Err("x"))
        else:
            parts.append(b"PING\r\n" if kind == "ping" else b"PONG\r\n")
            expected.append(Ping() if kind == "ping" else Pong())
    return b"".join(parts), expected


@settings(max_examples=200, deadline=None)
@given(_server_messages(), st.lists(st.integers(0, 10**4), max_size=6))
def test_fuzz_valid_streams_split_anywhere(
    stream: tuple[bytes, list[object]], cuts: list[int]
) -> None:
    data, expected = stream
    parser = Parser()
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    events: list[Event] = []
    for a, b in itertools.pairwise(points):
        events += parser.feed(data[a:b])
    shaped = [(e.subject, e.sid, e.reply, e.payload) if isinstance(e, Msg) else e for e in events]
    assert shaped == expected
    assert parser.buffered == 0


def test_encoders() -> None:
    assert encode_pub("a.b", b"hi") == b"PUB a.b 2\r\nhi\r\n"
    assert encode_pub("a", b"", "r") == b"PUB a r 0\r\n\r\n"
    assert encode_sub("a.*", 7) == b"SUB a.* 7\r\n"
    assert encode_sub("a.>", 8, "workers") == b"SUB a.> workers 8\r\n"
    assert encode_unsub(7) == b"UNSUB 7\r\n"
    assert encode_unsub(7, 3) == b"UNSUB 7 3\r\n"
    assert encode_headers({"A": "1", "B": ["2", "3"]}) == (
        b"NATS/1.0\r\nA: 1\r\nB: 2\r\nB: 3\r\n\r\n"
    )
    assert encode_hpub("s", b"xy", {"A": "1"}, "r") == (
        b"HPUB s r 18 20\r\nNATS/1.0\r\nA: 1\r\n\r\nxy\r\n"
    )
    assert encode_connect({"verbose": False}) == b'CONNECT {"verbose":false}\r\n'


@pytest.mark.parametrize("bad", ["", "a b", "a\r\nPUB x 1", "a\tb", "a\x00", "a\u2028b"])
def test_encoders_refuse_what_would_break_the_protocol(bad: str) -> None:
    with pytest.raises(NatsArgumentError):
        encode_pub(bad, b"")
    with pytest.raises(NatsArgumentError):
        encode_pub("ok", b"", reply=bad)
    with pytest.raises(NatsArgumentError):
        encode_sub(bad, 1)
    with pytest.raises(NatsArgumentError):
        encode_sub("ok", 1, queue=bad)
    with pytest.raises(NatsArgumentError):
        encode_headers({bad or ":": "v"})
    if bad:
        with pytest.raises(NatsArgumentError):
            encode_headers({"K": "v\r\n" + bad})


def test_queued_publishes_read_back() -> None:
    frames = [
        encode_pub("a", b"one"),
        encode_sub("a", 1),
        PING,
        encode_hpub("b", b"two", {"K": "v"}, "r"),
    ]
    assert [is_publish(frame) for frame in frames] == [True, False, False, True]
    pub = parse_pub(frames[3])
    assert pub is not None
    assert (pub.subject, pub.reply, pub.payload, pub.headers) == ("b", "r", b"two", {"K": ["v"]})
    assert publish_size(frames[0]) == 3
    assert publish_size(frames[3]) == len(encode_headers({"K": "v"})) + 3
    assert lost_publishes(frames) == (
        LostPublish("a", None, b"one"),
        LostPublish("b", "r", b"two", {"K": ["v"]}),
    )
