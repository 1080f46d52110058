"""The wire protocol: frames, the handshake, and the payloads that travel between containers.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack. Every
payload is a msgpack array whose first item is its :class:`Kind`:

==========  =====================================================================
``HELLO``   ``[0, "triomas", version, address, nonce, max_frame, heartbeat]`` opens
            a connection: the dialer sends its own, the acceptor answers with its
            own; ``max_frame`` is the largest frame the sender accepts,
            ``heartbeat`` the milliseconds between its ``TICK`` frames (0 or absent:
            it sends none, and is never declared down for silence)
``PROOF``   ``[1, proof]``: the dialer proves it knows the shared secret
``WELCOME`` ``[2, accepted, reason, proof]``: the acceptor keeps or declines the
            connection, and proves it knows the secret too
``MSG``     ``[3, sender, receiver, topic, performative, conversation_id, reply_with,
            in_reply_to, reply_by, sent_at, extra, tag, *fields]``; ``receiver`` is
            an agent name in the receiving container, or ``None`` for a publish;
            ``extra`` is ``None`` or ``[protocol, ontology, language]`` (FIPA-ACL's
            fields), with a W3C ``traceparent`` as a fourth item when the message
            carries one; the body is its tag and its field values, flat
``REPLY``   ``[4, reply_with, ok, value]``; when not ``ok``, ``value`` is an error
``INTEREST`` ``[5, add, topics]``: the sender's agents (un)subscribed to these topics
``ERROR``   ``[6, reason]``: why the sender is closing the connection
``TIE``     ``[7, op, id, ours, theirs, reason]``: a monitor or link between an agent
            of the sender (``ours``) and one of the receiver (``theirs``); ``op`` is
            a :class:`~triomas._runtime.ports.TieOp`, ``reason`` an exit reason
            (see :func:`~triomas._net.outcomes.describe_reason`) or ``None``
``TICK``    ``[8]``: the sender is alive (sent every heartbeat interval)
==========  =====================================================================

A proof is ``HMAC-SHA256(secret, transcript(role))`` (see :func:`proof`): it binds
the prover's role, both nonces and both announced addresses, so that neither side's
answer can be replayed, reflected or relayed as the other's. The dialer proves first;
the acceptor proves only to a dialer that did. Without a shared secret both proofs
are ``None``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from typing import Any, Final, NoReturn, final

import msgpack

from .._messages.codec import Codec
from .._messages.envelope import Envelope
from .._messages.errors import DecodeError, ProtocolError
from .._messages.ref import AgentRef

PROTOCOL: Final = "triomas"
VERSION: Final = 5
"""The protocol version; 3 binds roles, nonces and addresses in the proofs, 4 adds
heartbeats and the monitors and links between containers, 5 a trace context in
``MSG``."""
MAX_FRAME: Final = 4 * 1024 * 1024
"""The default largest frame accepted, in bytes."""
HANDSHAKE_MAX_FRAME: Final = 4096
"""The largest frame accepted before the handshake is done (a HELLO is under 200 bytes)."""
NONCE_SIZE: Final = 16
"""Bytes of a handshake nonce."""
MAX_ADDRESS = 1024
"""The longest address or agent name a peer may send, in characters."""

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
    TIE = 7
    TICK = 8


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
                self._refuse(length)
            if end - start - 4 < length:
                break
            frames.append(bytes(buffer[start + 4 : start + 4 + length]))
            start += 4 + length
        if start:
            del buffer[:start]
        return frames

    def _refuse(self, length: int) -> NoReturn:
        self._buffer = bytearray()
        raise ProtocolError(
            f"frame of {length} bytes (the limit is {self.max_frame})" if length else "empty frame"
        )

    def add(self, data: bytes | bytearray) -> None:
        """Add ``data`` without splitting it yet (see :meth:`next_frame`)."""
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The first complete payload, or None if it has not all arrived; only its own
        length is checked against ``max_frame``, so a handshake reads one frame at a
        time under its small limit and leaves what follows for :meth:`feed`."""
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        (length,) = _HEADER.unpack_from(buffer, 0)
        if length > self.max_frame or length == 0:
            self._refuse(length)
        if len(buffer) - 4 < length:
            return None
        payload = bytes(buffer[4 : 4 + length])
        del buffer[: 4 + length]
        return payload

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buffer)


def _transcript(
    role: bytes, dialer_nonce: bytes, acceptor_nonce: bytes, dialer: str, acceptor: str
) -> bytes:
    parts = [PROTOCOL.encode(), str(VERSION).encode(), role, dialer_nonce, acceptor_nonce]
    parts += [dialer.encode(), acceptor.encode()]
    # Each part with its length: no two different transcripts are the same bytes.
    return b"".join(_HEADER.pack(len(part)) + part for part in parts)


def proof(
    secret: bytes | None,
    role: str,
    dialer_nonce: bytes,
    acceptor_nonce: bytes,
    dialer: str,
    acceptor: str,
) -> bytes | None:
    """The HMAC by which the ``role`` side ("dialer" or "acceptor") of a handshake shows
    it knows ``secret``, or None without one. It covers the role, both nonces and both
    announced addresses."""
    if secret is None:
        return None
    transcript = _transcript(role.encode(), dialer_nonce, acceptor_nonce, dialer, acceptor)
    return hmac.new(secret, transcript, hashlib.sha256).digest()


def proof_ok(
    secret: bytes | None,
    role: str,
    dialer_nonce: bytes,
    acceptor_nonce: bytes,
    dialer: str,
    acceptor: str,
    given: Any,
) -> bool:
    """Whether ``given`` is the right proof for that role (compared in constant time).

    Without a secret, only ``None`` is right: a peer that proves a secret we do not
    have is configured differently, and is refused rather than half trusted."""
    expected = proof(secret, role, dialer_nonce, acceptor_nonce, dialer, acceptor)
    if expected is None:
        return given is None
    return isinstance(given, bytes) and hmac.compare_digest(expected, given)


def parse_handshake(payload: bytes) -> list[Any]:
    """A handshake payload as its array, decoded with no extension hooks and tight
    limits; :exc:`ProtocolError` if it is anything else."""
    try:
        item = msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_ADDRESS,
            max_bin_len=64,
            max_array_len=8,
            max_map_len=0,
            max_ext_len=0,
        )
    except Exception as exc:
        raise ProtocolError(f"undecodable handshake frame: {type(exc).__name__}") from None
    if not isinstance(item, list) or not item or type(item[0]) is not int:
        raise ProtocolError("a frame must hold an array that starts with its kind")
    if item[0] not in _KINDS:
        raise ProtocolError(f"unknown frame kind {item[0]}")
    return item


def check_hello(item: list[Any]) -> tuple[str, bytes, int, float]:
    """The address, nonce, frame limit and heartbeat interval (seconds, 0 for none) a
    ``HELLO`` announces; :exc:`ProtocolError` if it is malformed or of another version."""
    if item[0] != Kind.HELLO:
        raise ProtocolError(f"expected HELLO, got kind {item[0]}")
    if len(item) not in (6, 7) or item[1] != PROTOCOL:
        raise ProtocolError("not a triomas HELLO")
    if type(item[2]) is not int or item[2] != VERSION:
        raise ProtocolError(
            f"protocol version {item[2]!r:.20} is not supported (this is {VERSION})"
        )
    address, nonce, limit = item[3], item[4], item[5]
    if not isinstance(address, str) or "://" not in address:
        raise ProtocolError("malformed HELLO: bad address")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_SIZE:
        raise ProtocolError(f"malformed HELLO: the nonce must be {NONCE_SIZE} bytes")
    if type(limit) is not int or not 64 <= limit < 1 << 32:
        raise ProtocolError("malformed HELLO: bad frame limit")
    beat = item[6] if len(item) == 7 else 0
    if type(beat) is not int or not 0 <= beat < 1 << 31:
        raise ProtocolError("malformed HELLO: bad heartbeat")
    return address, nonce, limit, beat / 1000


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
    if not isinstance(item, list) or not item or type(item[0]) is not int:
        return None
    return item if item[0] in _KINDS else None


_KINDS = frozenset(int(kind) for kind in Kind)
BODY = 11
"""Where the body (its tag, then its fields) starts in a ``MSG`` payload."""


# ---- messages ----------------------------------------------------------------------------


def encode_message(
    codec: Codec,
    env: Envelope,
    receiver: str | None,
    reply_with: str | None = None,
    sender_address: str | None = None,
) -> bytes:
    """The framed ``MSG`` payload for ``env``, to agent ``receiver`` (None: a publish);
    ``reply_with`` and ``sender_address``, if given, travel instead of the envelope's."""
    payload = message_payload(codec, env, receiver, reply_with, sender_address)
    return _HEADER.pack(len(payload)) + payload  # frame(), inlined


def message_payload(
    codec: Codec,
    env: Envelope,
    receiver: str | None,
    reply_with: str | None = None,
    sender_address: str | None = None,
) -> bytes:
    """:func:`encode_message` with no frame: for a carrier that frames its own (a NATS
    message's payload has its length in the ``PUB`` line)."""
    sender = env.sender
    header = (
        Kind.MSG,
        sender_address if sender_address is not None or sender is None else sender.address,
        receiver,
        env.topic,
        env.performative,
        env.conversation_id,
        env.reply_with if reply_with is None else reply_with,
        env.in_reply_to,
        env.reply_by,
        env.sent_at,
        (
            None
            if env.protocol is None and env.ontology is None and env.language is None
            else (env.protocol, env.ontology, env.language)
        )
        if env.trace is None
        else (env.protocol, env.ontology, env.language, env.trace),
    )
    return codec.pack_with(header, env.body)


def encode_ask(
    codec: Codec,
    sender: str | None,
    receiver: str,
    body: Any,
    performative: str | None,
    conversation_id: str | None,
    reply_with: str,
    sent_at: float,
) -> bytes:
    """The framed ``MSG`` payload of a plain ask (no FIPA fields, no trace): what
    :func:`encode_message` makes of its envelope, with no envelope made."""
    payload = plain_payload(
        codec, sender, receiver, body, performative, conversation_id, reply_with, sent_at
    )
    return _HEADER.pack(len(payload)) + payload  # frame(), inlined


def plain_payload(
    codec: Codec,
    sender: str | None,
    receiver: str,
    body: Any,
    performative: str | None,
    conversation_id: str | None,
    reply_with: str | None,
    sent_at: float,
) -> bytes:
    """The unframed ``MSG`` payload of a plain tell or ask (no FIPA fields, no trace),
    from its parts: what :func:`message_payload` makes of its envelope."""
    return codec.pack_with(
        (
            Kind.MSG,
            sender,
            receiver,
            type(body).__name__,
            performative,
            conversation_id,
            reply_with,
            None,
            None,
            sent_at,
            None,
        ),
        body,
    )


def decode_message(codec: Codec, item: list[Any]) -> tuple[Envelope, str | None]:
    """The envelope of a ``MSG`` payload and the name it is for.

    Raises :exc:`ProtocolError` if the header is malformed and :exc:`DecodeError` if
    only the body is (then :func:`message_header` still reads the header).
    """
    env, receiver = message_header(item)
    env.body = codec.load(item[BODY:])
    return env, receiver


_SENDERS: dict[str, AgentRef] = {}
_SENDERS_MAX = 4096


def sender_ref(address: Any) -> AgentRef:
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
    if len(item) <= BODY:
        raise ProtocolError(f"a MSG frame has at least {BODY + 1} items, not {len(item)}")
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
    ) = item[:BODY]
    sender_of = None if sender is None else sender_ref(sender)
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
                and (len(fipa) == 3 or (len(fipa) == 4 and _is_trace(fipa[3])))
                and all(v is None or isinstance(v, str) for v in fipa[:3])
            )
        )
    ):
        raise ProtocolError("a MSG frame has a header field of the wrong type")
    env = Envelope(
        None,
        sender_of,
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
        env.protocol, env.ontology, env.language = fipa[:3]
        if len(fipa) == 4:
            env.trace = fipa[3]
    return env, receiver


_MAX_TRACE = 256
"""The longest trace context accepted (a version-00 ``traceparent`` is 55 characters);
what it says is for the instrumentation to parse, which ignores a malformed one."""


def _is_trace(value: Any) -> bool:
    return type(value) is str and len(value) <= _MAX_TRACE
