"""The wire protocol: framing, the frame decoder under fuzzing, payload checks, errors."""

from __future__ import annotations

import contextlib
import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triomas import (
    AgentRef,
    CalleeDown,
    Codec,
    DecodeError,
    EncodeError,
    Envelope,
    Failure,
    HandlerFailed,
    MailboxFull,
    NoHandler,
    NoProc,
    Normal,
    ProtocolError,
    RemoteError,
    Shutdown,
    message,
)
from triomas._net.outcomes import describe_error, rebuild_error
from triomas._net.wire import (
    FrameDecoder,
    Kind,
    decode_message,
    encode_message,
    frame,
    parse,
    proof,
    proof_ok,
)


@message(tag="wire.Note")
class Note:
    text: str


def test_a_frame_is_a_big_endian_length_and_the_payload() -> None:
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert FrameDecoder().feed(frame(b"abc") + frame(b"de")) == [b"abc", b"de"]


def test_the_decoder_waits_for_whole_frames() -> None:
    decoder = FrameDecoder()
    data = frame(b"hello")
    assert [decoder.feed(data[i : i + 1]) for i in range(len(data))][-1] == [b"hello"]
    assert decoder.pending == 0


def test_an_oversized_length_is_refused_before_buffering() -> None:
    decoder = FrameDecoder(max_frame=10)
    with pytest.raises(ProtocolError, match="frame of 11 bytes"):
        decoder.feed(struct.pack(">I", 11))
    with pytest.raises(ProtocolError, match="empty frame"):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


payloads = st.lists(st.binary(min_size=1, max_size=300), max_size=8)


@settings(max_examples=200, deadline=None)
@given(payloads, st.data())
def test_any_chunking_gives_the_same_frames(chunks: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in chunks)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder(max_frame=300)
    got: list[bytes] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        got += decoder.feed(stream[start:cut])
        start = cut
    assert got == chunks
    assert decoder.pending == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=6))
def test_garbage_only_ever_raises_protocol_errors(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_frame=64)
    codec = Codec()
    try:
        for chunk in chunks:
            for payload in decoder.feed(chunk):
                item = parse(codec, payload)
                if item[0] == Kind.MSG:
                    decode_message(codec, item)
    except (ProtocolError, DecodeError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_accepts_only_arrays_with_a_known_kind(payload: bytes) -> None:
    try:
        item = parse(Codec(), payload)
    except ProtocolError:
        return
    assert isinstance(item, list)
    assert item[0] in set(Kind)


def test_a_message_frame_round_trips() -> None:
    codec = Codec()
    env = Envelope(
        Note("hi"),
        AgentRef("tcp://127.0.0.1:1", "a"),
        None,
        "Note",
        "inform",
        "conv-1",
        "7",
        "6",
        3.5,
        1.25,
    )
    data = encode_message(codec, env, "b")
    (payload,) = FrameDecoder().feed(data)
    back, receiver = decode_message(codec, parse(codec, payload))
    assert receiver == "b"
    assert back == Envelope(
        Note("hi"), env.sender, "b", "Note", "inform", "conv-1", "7", "6", 3.5, 1.25
    )


def test_the_fipa_fields_cross_the_wire() -> None:
    codec = Codec()
    env = Envelope(Note("hi"), None, None, "Note", "cfp", protocol="fipa-contract-net")
    env.ontology, env.language = "parking", "python"
    (payload,) = FrameDecoder().feed(encode_message(codec, env, "b"))
    back, _ = decode_message(codec, parse(codec, payload))
    assert (back.protocol, back.ontology, back.language) == (
        "fipa-contract-net",
        "parking",
        "python",
    )


@pytest.mark.parametrize(
    "item",
    [
        [Kind.MSG, None],
        [
            Kind.MSG,
            "no-scheme",
            "b",
            "T",
            None,
            None,
            None,
            None,
            None,
            0.0,
            None,
            "wire.Note",
            "x",
        ],
        [Kind.MSG, None, 5, "T", None, None, None, None, None, 0.0, None, "wire.Note", "x"],
        [Kind.MSG, None, "b", "T", None, None, None, None, None, "late", None, "wire.Note", "x"],
        [Kind.MSG, None, "b", "T", None, None, None, None, None, 0.0, ["p", 1], "wire.Note", "x"],
        [Kind.MSG, None, "b", "T", None, None, None, None, None, 0.0, "p", "wire.Note", "x"],
    ],
)
def test_a_bad_message_header_is_a_protocol_error(item: list[object]) -> None:
    with pytest.raises(ProtocolError):
        decode_message(Codec(), item)


def test_unknown_frame_kinds_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="unknown frame kind 99"):
        parse(Codec(), msgpack.packb([99]))
    with pytest.raises(ProtocolError, match="array that starts"):
        parse(Codec(), msgpack.packb({"a": 1}))


def test_a_reply_whose_value_will_not_decode_keeps_its_reply_id() -> None:
    codec = Codec()
    bad = msgpack.ExtType(1, msgpack.packb(["wire.Unknown"]))
    item = parse(codec, msgpack.packb([Kind.REPLY, "42", True, bad]))
    assert item[:2] == [Kind.REPLY, "42"]
    assert isinstance(item[-1], DecodeError)


def test_proofs_bind_the_secret_the_role_both_nonces_and_both_addresses() -> None:
    args = ("dialer", b"d" * 16, b"a" * 16, "tcp://d:1", "tcp://a:1")
    good = proof(b"s3cret", *args)
    assert proof_ok(b"s3cret", *args, good)
    assert not proof_ok(b"other", *args, good)
    changed = [
        ("acceptor", *args[1:]),  # the other role: a reflected answer is no proof
        (args[0], b"x" * 16, *args[2:]),
        (*args[:2], b"x" * 16, *args[3:]),
        (*args[:3], "tcp://x:1", args[4]),
        (*args[:4], "tcp://x:1"),
        (args[0], args[2], args[1], args[3], args[4]),  # nonces swapped
        (args[0], args[1], args[2], args[4], args[3]),  # addresses swapped
    ]
    for other in changed:
        assert not proof_ok(b"s3cret", *other, good), other
    assert not proof_ok(b"s3cret", *args, None)
    assert proof(None, *args) is None
    assert proof_ok(None, *args, None)
    # A peer proving a secret this side does not have is refused too.
    assert not proof_ok(None, *args, good)
    # Lengths are part of what is signed: moving bytes between fields changes it.
    assert proof(b"k", "dialer", b"ab", b"c", "x", "y") != proof(
        b"k", "dialer", b"a", b"bc", "x", "y"
    )


def _crash() -> ValueError:
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        return exc


def test_errors_survive_the_trip() -> None:
    codec = Codec()

    def trip(error: BaseException) -> BaseException:
        data = codec.unpack(codec.pack(describe_error(error, "tcp://h:1/x")))
        return rebuild_error(data)

    crash = CalleeDown("tcp://h:1/x", Failure(_crash()))
    back = trip(crash)
    assert isinstance(back, CalleeDown)
    assert isinstance(back.reason, Failure)
    cause = back.__cause__
    assert isinstance(cause, RemoteError)
    assert (cause.type_name, cause.message, cause.origin) == (
        "ValueError",
        "bad input",
        "tcp://h:1/x",
    )
    assert "raise ValueError" in cause.traceback
    down = trip(CalleeDown("tcp://h:1/x", Shutdown("removed")))
    assert isinstance(down, CalleeDown)
    assert down.reason == Shutdown("removed")
    assert trip(CalleeDown("x", Normal())).reason == Normal()  # type: ignore[attr-defined]
    assert trip(CalleeDown("x", NoProc())).reason == NoProc()  # type: ignore[attr-defined]
    failed = HandlerFailed("the handler raised")
    failed.__cause__ = _crash()
    assert isinstance(trip(failed), HandlerFailed)
    assert isinstance(trip(NoHandler("none")), NoHandler)
    assert isinstance(trip(MailboxFull("full")), MailboxFull)
    assert isinstance(trip(DecodeError("bad")), DecodeError)
    assert isinstance(trip(EncodeError("bad")), EncodeError)
    other = trip(KeyError("k"))
    assert isinstance(other, RemoteError)
    assert other.type_name == "KeyError"
    assert isinstance(rebuild_error(["down", "too few"]), ProtocolError)
    assert isinstance(rebuild_error("nonsense"), ProtocolError)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, min_size=0, max_size=14), st.sampled_from(["wire.Note", "codec.Nope", 3]))
def test_message_frames_with_any_contents_fail_cleanly(rest: list[object], tag: object) -> None:
    codec = Codec()
    item = [Kind.MSG, *rest]
    if len(item) >= 12:
        item[11] = tag
    with contextlib.suppress(ProtocolError, DecodeError):
        decode_message(codec, parse(codec, msgpack.packb(item)))
