"""The wire protocol: frames, the handshake, and the payloads that travel between containers.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack. Every
payload is a msgpack array whose first item is its :class:`Kind`:

==========  =====================================================================
``HELLO``   ``[0, "triomas", version, address, nonce, proof]`` opens a connection;
            the dialer's proof is ``None``, the acceptor's answers the dialer's nonce
``PROOF``   ``[1, proof]``: the dialer answers the acceptor's nonce
``WELCOME`` ``[2, accepted, reason]``: the acceptor keeps or declines the connection
``MSG``     ``[3, sender, receiver, topic, performative, conversation_id, reply_with,
            in_reply_to, reply_by, sent_at, tag, *fields]``; ``receiver`` is an agent
            name in the receiving container, or ``None`` for a publish; the body is
            its tag and its field values, flat
``REPLY``   ``[4, reply_with, ok, value]``; when not ``ok``, ``value`` is an error
``INTEREST`` ``[5, add, topics]``: the sender's agents (un)subscribed to these topics
``ERROR``   ``[6, reason]``: why the sender is closing the connection
==========  =====================================================================

A proof is ``HMAC-SHA256(secret, nonce + address)`` of the prover's own address and
the other side's nonce, or ``None`` without a shared secret.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
import traceback
from typing import Any, Final, final

import msgpack

from ._codec import Codec
from ._envelope import Envelope
from ._errors import (
    CalleeDown,
    CodecError,
    DecodeError,
    EncodeError,
    HandlerFailed,
    MailboxFull,
    NoHandler,
    ProtocolError,
    RemoteError,
)
from ._events import ExitReason, Failure, Fatal, NoProc, Normal, Shutdown
from ._ref import AgentRef

PROTOCOL: Final = "triomas"
VERSION: Final = 2
MAX_FRAME: Final = 4 * 1024 * 1024
"""The default largest frame accepted, in bytes."""

_HEADER = struct.Struct(">I")


class Kind(enum.IntEnum):
    """The first item of every payload."""

    HELLO = 0
    PROOF = 1
    WELCOME = 2
    MSG = 3
    REPLY = 4
    INTEREST = 5
    ERROR = 6


def frame(payload: bytes) -> bytes:
    """``payload`` with its length header."""
    return _HEADER.pack(len(payload)) + payload


@final
class FrameDecoder:
    """Splits a byte stream into frame payloads; refuses frames over ``max_frame``."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Add ``data``; return every payload now complete, in order.

        Raises :exc:`ProtocolError` for a frame longer than ``max_frame`` (before
        buffering it) or an empty one; the decoder is then unusable.
        """
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        start = 0
        end = len(buffer)
        while end - start >= 4:
            (length,) = _HEADER.unpack_from(buffer, start)
            if length > self.max_frame or length == 0:
                self._buffer = bytearray()
                raise ProtocolError(
                    f"frame of {length} bytes (the limit is {self.max_frame})"
                    if length
                    else "empty frame"
                )
            if end - start - 4 < length:
                break
            frames.append(bytes(buffer[start + 4 : start + 4 + length]))
            start += 4 + length
        if start:
            del buffer[:start]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buffer)


def proof(secret: bytes | None, nonce: bytes, address: str) -> bytes | None:
    """The HMAC that shows knowledge of ``secret``, or None without one."""
    if secret is None:
        return None
    return hmac.new(secret, nonce + address.encode(), hashlib.sha256).digest()


def proof_ok(secret: bytes | None, nonce: bytes, address: str, given: Any) -> bool:
    """Whether ``given`` is the right proof (compared in constant time)."""
    expected = proof(secret, nonce, address)
    if expected is None:
        return True
    return isinstance(given, bytes) and hmac.compare_digest(expected, given)


def parse(codec: Codec, payload: bytes) -> list[Any]:
    """A payload as its array; :exc:`ProtocolError` if it is not one with a known kind."""
    try:
        item = codec.unpack(payload)
    except DecodeError as exc:
        # A message inside (a reply value) may be what failed: try without decoding it,
        # so the error can be pinned on that one request.
        raw = raw_parse(payload)
        if raw is None:
            raise ProtocolError(f"undecodable frame: {exc}") from None
        raw.append(exc)
        return raw
    if not isinstance(item, list) or not item or type(item[0]) is not int:
        raise ProtocolError("a frame must hold an array that starts with its kind")
    if item[0] not in _KINDS:
        raise ProtocolError(f"unknown frame kind {item[0]}")
    return item


def raw_parse(payload: bytes) -> list[Any] | None:
    """The payload with extension types left undecoded, or None if it is not msgpack."""
    try:
        item = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception:
        return None
    if not isinstance(item, list) or not item or item[0] not in _KINDS:
        return None
    return item


_KINDS = frozenset(int(kind) for kind in Kind)
_BODY = 11
"""Where the body (its tag, then its fields) starts in a ``MSG`` payload."""


# ---- messages ----------------------------------------------------------------------------


def encode_message(codec: Codec, env: Envelope, receiver: str | None) -> bytes:
    """The framed ``MSG`` payload for ``env``, to agent ``receiver`` (None: a publish)."""
    sender = env.sender
    header = (
        Kind.MSG,
        None if sender is None else sender.address,
        receiver,
        env.topic,
        env.performative,
        env.conversation_id,
        env.reply_with,
        env.in_reply_to,
        env.reply_by,
        env.sent_at,
        None
        if env.protocol is None and env.ontology is None and env.language is None
        else (env.protocol, env.ontology, env.language),
    )
    return frame(codec.pack(header + codec.dump(env.body)))


def decode_message(codec: Codec, item: list[Any]) -> tuple[Envelope, str | None]:
    """The envelope of a ``MSG`` payload and the name it is for.

    Raises :exc:`ProtocolError` if the header is malformed and :exc:`DecodeError` if
    only the body is (then :func:`message_header` still reads the header).
    """
    env, receiver = message_header(item)
    env.body = codec.load(item[_BODY:])
    return env, receiver


_SENDERS: dict[str, AgentRef] = {}
_SENDERS_MAX = 4096


def _sender_ref(address: Any) -> AgentRef:
    """The reference for a sender's address; the same few senders come again and again."""
    ref = _SENDERS.get(address) if type(address) is str else None
    if ref is None:
        try:
            if not isinstance(address, str):
                raise TypeError(address)
            ref = AgentRef.parse(address)
        except (ValueError, TypeError):
            raise ProtocolError(f"bad sender address {address!r:.100}") from None
        if len(_SENDERS) >= _SENDERS_MAX:
            _SENDERS.clear()
        _SENDERS[address] = ref
    return ref


def message_header(item: list[Any]) -> tuple[Envelope, str | None]:
    """The envelope of a ``MSG`` payload with no body yet; :exc:`ProtocolError` if bad."""
    if len(item) <= _BODY:
        raise ProtocolError(f"a MSG frame has at least {_BODY + 1} items, not {len(item)}")
    (
        _,
        sender,
        receiver,
        topic,
        performative,
        conv,
        reply_with,
        in_reply_to,
        reply_by,
        sent,
        fipa,
    ) = item[:_BODY]
    sender_ref = None if sender is None else _sender_ref(sender)
    if not (
        (receiver is None or type(receiver) is str)
        and type(topic) is str
        and (performative is None or type(performative) is str)
        and (conv is None or type(conv) is str)
        and (reply_with is None or type(reply_with) is str)
        and (in_reply_to is None or type(in_reply_to) is str)
        and (reply_by is None or isinstance(reply_by, (int, float)))
        and isinstance(sent, (int, float))
        and (
            fipa is None
            or (
                isinstance(fipa, list)
                and len(fipa) == 3
                and all(v is None or isinstance(v, str) for v in fipa)
            )
        )
    ):
        raise ProtocolError("a MSG frame has a header field of the wrong type")
    env = Envelope(
        None,
        sender_ref,
        receiver,
        topic,
        performative,
        conv,
        reply_with,
        in_reply_to,
        reply_by,
        sent,
    )
    if fipa is not None:
        env.protocol, env.ontology, env.language = fipa
    return env, receiver


# ---- replies -----------------------------------------------------------------------------


def encode_reply(codec: Codec, rid: str, value: Any) -> bytes:
    """The framed ``REPLY`` payload carrying ``value``."""
    return frame(codec.pack((Kind.REPLY, rid, True, value)))


def encode_reply_error(codec: Codec, rid: str, error: BaseException, origin: str) -> bytes:
    """The framed ``REPLY`` payload carrying ``error`` (raised in ``origin``)."""
    return frame(codec.pack((Kind.REPLY, rid, False, describe_error(error, origin))))


def describe_error(error: BaseException, origin: str) -> list[Any]:
    """``error`` as msgpack-ready data: ``[kind, ...]``; see :func:`rebuild_error`."""
    if isinstance(error, CalleeDown):
        reason = error.reason
        cause = error.__cause__
        if isinstance(reason, (Failure, Fatal)):
            cause = reason.exception
        return [
            "down",
            error.recipient,
            _reason_kind(reason),
            str(reason),
            _exception(cause, origin),
        ]
    if isinstance(error, HandlerFailed):
        return ["failed", str(error), _exception(error.__cause__, origin)]
    if isinstance(error, NoHandler):
        return ["nohandler", str(error)]
    if isinstance(error, MailboxFull):
        return ["full", str(error)]
    if isinstance(error, EncodeError):
        return ["encode", str(error)]
    if isinstance(error, CodecError):
        return ["codec", str(error)]
    return ["error", _exception(error, origin)]


def rebuild_error(data: Any) -> BaseException:
    """The local exception for an error described by :func:`describe_error`."""
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return ProtocolError(f"malformed error in a reply: {data!r:.200}")
    kind = data[0]
    try:
        if kind == "down":
            _, recipient, reason_kind, text, cause = data
            remote = _remote(cause)
            down = CalleeDown(str(recipient), _reason(reason_kind, str(text), remote))
            down.__cause__ = remote
            return down
        if kind == "failed":
            _, text, cause = data
            failed = HandlerFailed(str(text))
            failed.__cause__ = _remote(cause)
            return failed
        if kind == "nohandler":
            return NoHandler(str(data[1]))
        if kind == "full":
            return MailboxFull(str(data[1]))
        if kind == "encode":
            return EncodeError(f"the answer could not be encoded: {data[1]}")
        if kind == "codec":
            return DecodeError(f"the receiver could not decode the request: {data[1]}")
        if kind == "error":
            remote = _remote(data[1])
            return remote if remote is not None else ProtocolError("empty error in a reply")
    except (ValueError, TypeError):
        pass
    return ProtocolError(f"malformed error in a reply: {data!r:.200}")


def _reason_kind(reason: ExitReason) -> str:
    return type(reason).__name__.lower()


def _reason(kind: str, text: str, remote: RemoteError | None) -> ExitReason:
    error = remote if remote is not None else RemoteError("Exception", text, "?", "")
    if kind == "normal":
        return Normal()
    if kind == "shutdown":
        return Shutdown(text[len("shutdown(") : -1] if text.startswith("shutdown(") else text)
    if kind == "failure":
        return Failure(error)
    if kind == "fatal":
        return Fatal(error)
    return NoProc()


def _exception(error: BaseException | None, origin: str) -> list[str] | None:
    if error is None:
        return None
    if isinstance(error, RemoteError):
        return [error.type_name, error.message, error.origin, error.traceback]
    text = "".join(traceback.format_exception(error))
    return [type(error).__qualname__, str(error), origin, text]


def _remote(data: Any) -> RemoteError | None:
    if data is None:
        return None
    type_name, text, origin, tb = (str(part) for part in data)
    return RemoteError(type_name, text, origin, tb)
