"""The NATS core client protocol, sans-io: a parser for what the server sends, and
encoders for what the client sends.

The server sends ``INFO {json}``, ``MSG <subject> <sid> [reply] <size>`` and
``HMSG <subject> <sid> [reply] <header size> <total size>`` (each followed by its
payload and CRLF), ``PING``, ``PONG``, ``+OK`` and ``-ERR '<text>'``, one per line
ended by CRLF. The client sends ``CONNECT {json}``, ``PUB``, ``HPUB``, ``SUB``,
``UNSUB``, ``PING`` and ``PONG``.

The parser trusts nothing: a control line may be at most ``max_control_line`` bytes
(``max_info_line`` for ``INFO``, which carries the cluster's URLs), a payload at most
``max_payload``, and anything malformed raises :exc:`NatsProtocolError` before more
than those limits is buffered. Header *content* comes from other clients through the
server, so it is parsed leniently (a bad line is skipped): only the framing can fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias, final

import attrs

from .errors import NatsArgumentError, NatsPayloadTooLarge, NatsProtocolError

__all__ = [
    "CRLF",
    "DEFAULT_MAX_PAYLOAD",
    "HEADER_ALLOWANCE",
    "MAX_CONTROL_LINE",
    "MAX_INFO_LINE",
    "MAX_PAYLOAD_CAP",
    "PING",
    "PONG",
    "Err",
    "Event",
    "Info",
    "Msg",
    "Ok",
    "Parser",
    "Ping",
    "Pong",
    "PubFrame",
    "check_subject",
    "encode_connect",
    "encode_headers",
    "encode_hpub",
    "encode_pub",
    "encode_publish",
    "encode_sub",
    "encode_unsub",
    "is_publish",
    "parse_headers",
    "parse_pub",
    "publish_size",
]

CRLF: Final = b"\r\n"
PING: Final = b"PING\r\n"
"""A PING, as the client sends it."""
PONG: Final = b"PONG\r\n"
"""A PONG, as the client sends it."""

MAX_CONTROL_LINE: Final = 4096
"""The longest control line accepted (CRLF not counted): the server's own default
``max_control_line``, which bounds the subjects it routes."""
MAX_INFO_LINE: Final = 64 * 1024
"""The longest ``INFO`` line accepted: it lists the cluster's client URLs, so it may
be longer than other lines."""
DEFAULT_MAX_PAYLOAD: Final = 1024 * 1024
"""The server's default ``max_payload``, assumed until its ``INFO`` says otherwise."""
MAX_PAYLOAD_CAP: Final = 64 * 1024 * 1024
"""The most ``max_payload`` a server can be configured with; an ``INFO`` that claims
more is capped here, so that a hostile server cannot make the client buffer more."""
HEADER_ALLOWANCE: Final = 64 * 1024
"""What an incoming message may have on top of ``max_payload``: headers the server
adds (a status, the subject of a no-responders reply)."""

_HEADER_LINE: Final = b"NATS/1.0"
_MAX_DIGITS = 12  # sizes and sids: 12 digits are more than any limit here


def _utf8(raw: bytes) -> str:
    # Subjects come from other clients through the server, which only forbids white
    # space in them: undecodable bytes must not cost the connection, and survive a
    # round trip (encoders use the same error handler).
    return raw.decode("utf-8", "surrogateescape")


@final
@attrs.define(slots=True, eq=False)
class Msg:
    """A message delivered on subscription ``sid``; ``headers`` is ``None`` for a
    ``MSG``, and for an ``HMSG`` maps each header key to its values, in order.

    ``status`` is the status code of an ``HMSG`` header line (``NATS/1.0 503`` is "no
    responders"), ``description`` the text after it.
    """

    subject: str
    sid: int
    reply: str | None
    payload: bytes
    headers: dict[str, list[str]] | None = None
    status: int | None = None
    description: str = ""

    def header(self, key: str, default: str | None = None) -> str | None:
        """The first value of header ``key``, or ``default``."""
        if self.headers is None:
            return default
        values = self.headers.get(key)
        return values[0] if values else default


@final
@attrs.frozen
class Info:
    """The server's ``INFO``: its JSON object, as parsed."""

    data: dict[str, Any]


@final
@attrs.frozen
class Ping:
    """The server asks for a ``PONG``."""


@final
@attrs.frozen
class Pong:
    """The answer to the oldest ``PING`` not yet answered."""


@final
@attrs.frozen
class Ok:
    """``+OK`` (only in verbose mode)."""


@final
@attrs.frozen
class Err:
    """``-ERR``: the server's error text, unquoted."""

    message: str


Event: TypeAlias = Msg | Info | Ping | Pong | Ok | Err
"""What :meth:`Parser.feed` yields."""

_PING = Ping()
_PONG = Pong()
_OK = Ok()


def _size(raw: bytes) -> int:
    if not raw.isdigit() or len(raw) > _MAX_DIGITS:
        raise NatsProtocolError(f"bad size or sid {raw[:20]!r}")
    return int(raw)


def parse_headers(block: bytes) -> tuple[int | None, str, dict[str, list[str]]]:
    """The status code, its description and the headers of an ``HMSG`` header block
    (``NATS/1.0[ <code>[ <text>]]`` CRLF, then ``Key: value`` lines, then CRLF).

    Lenient: the block comes from another client; lines without a colon are
    skipped, and a block that does not start with ``NATS/1.0`` has no status.
    """
    lines = block.split(CRLF)
    status: int | None = None
    description = ""
    first = lines[0]
    if first.startswith(_HEADER_LINE):
        rest = first[len(_HEADER_LINE) :].strip()
        code, _, text = rest.partition(b" ")
        if len(code) == 3 and code.isdigit():
            status = int(code)
            description = text.strip().decode("utf-8", "replace")
        lines = lines[1:]
    headers: dict[str, list[str]] = {}
    for line in lines:
        key, colon, value = line.partition(b":")
        key = key.strip()
        if colon and key:
            headers.setdefault(_utf8(key), []).append(_utf8(value.strip()))
    return status, description, headers


@final
class Parser:
    """Turns the bytes the server sends into :data:`Event` objects.

    ``feed`` as the bytes arrive, in chunks of any size; it returns the events now
    complete, in order, and keeps the rest. It raises :exc:`NatsProtocolError` for
    anything malformed or over a limit, and for every call after that.

    ``max_payload`` (the total size of a message, headers included) may be changed
    between calls, e.g. when an ``INFO`` announces the server's limit.
    """

    __slots__ = (
        "_failed",
        "_held",
        "_held_len",
        "_need",
        "_partial",
        "max_control_line",
        "max_info_line",
        "max_payload",
    )

    def __init__(
        self,
        max_payload: int = DEFAULT_MAX_PAYLOAD + HEADER_ALLOWANCE,
        max_control_line: int = MAX_CONTROL_LINE,
        max_info_line: int = MAX_INFO_LINE,
    ) -> None:
        self.max_payload = max_payload
        self.max_control_line = max_control_line
        self.max_info_line = max_info_line
        self._failed = False
        # Bytes kept from earlier calls: an incomplete line, or the start of a
        # payload (then ``_partial`` has its control line and ``_need`` the bytes
        # that complete it, its CRLF included).
        self._held: list[bytes] = []
        self._held_len = 0
        self._need = 0
        self._partial: tuple[str, int, str | None, int, int] | None = None

    @property
    def buffered(self) -> int:
        """How many bytes are kept, waiting for the rest of their line or payload."""
        return self._held_len

    def feed(self, data: bytes | bytearray) -> list[Event]:
        """Add ``data``; return every event now complete, in order."""
        if type(data) is not bytes:
            data = bytes(data)
        if self._failed:
            raise NatsProtocolError("the stream broke the protocol before")
        if self._held:
            self._held.append(data)
            self._held_len += len(data)
            if self._held_len < self._need:
                return []  # a payload that is still incomplete: join it once, later
            data = b"".join(self._held)
            self._held = []
            self._held_len = 0
        try:
            return self._parse(data)
        except NatsProtocolError:
            self._failed = True
            self._held = []
            self._held_len = 0
            raise

    def _hold(self, rest: bytes, need: int) -> None:
        self._held = [rest]
        self._held_len = len(rest)
        self._need = need

    def _parse(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        append = events.append
        n = len(data)
        pos = 0
        if self._partial is not None:
            pos = self._complete(data, 0, self._partial, events)
            self._partial = None
        find = data.find
        startswith = data.startswith
        limit = self.max_control_line
        max_payload = self.max_payload
        while pos < n:
            end = find(CRLF, pos)
            if end < 0 or end - pos > limit:
                if (end < 0 and n - pos <= limit) or self._is_info(data, pos, end):
                    if end < 0:
                        self._hold(data[pos:], 0)
                        return events
                else:
                    raise NatsProtocolError(f"a control line longer than {limit} bytes")
            if startswith(b"MSG ", pos):
                # The hot path, inlined: a message without headers.
                args = data[pos + 4 : end].split()
                nargs = len(args)
                raw_size = args[-1] if nargs else b""
                raw_sid = args[1] if nargs > 1 else b""
                if (
                    not (nargs == 3 or nargs == 4)
                    or not raw_size.isdigit()
                    or not raw_sid.isdigit()
                    or len(raw_size) > _MAX_DIGITS
                    or len(raw_sid) > _MAX_DIGITS
                ):
                    raise NatsProtocolError(f"a malformed line {data[pos : pos + 60]!r}")
                size = int(raw_size)
                if size > max_payload:
                    raise NatsProtocolError(
                        f"a message of {size} bytes, over the limit of {max_payload}"
                    )
                start = end + 2
                stop = start + size
                if stop + 2 > n:
                    self._partial = (
                        _utf8(args[0]),
                        int(raw_sid),
                        _utf8(args[2]) if nargs == 4 else None,
                        0,
                        size,
                    )
                    self._hold(data[start:], size + 2)
                    return events
                if data[stop : stop + 2] != CRLF:
                    raise NatsProtocolError("a message payload not followed by CRLF")
                try:
                    subject = args[0].decode()
                except UnicodeDecodeError:
                    subject = _utf8(args[0])
                append(
                    Msg(
                        subject,
                        int(raw_sid),
                        _utf8(args[2]) if nargs == 4 else None,
                        data[start:stop],
                    )
                )
                pos = stop + 2
                continue
            first = data[pos : pos + 1].upper()
            if first == b"M" or first == b"H":
                pos = self._message(data, pos, end, events)
                continue
            line = data[pos:end].rstrip().upper()
            if line == b"PING":
                append(_PING)
            elif line == b"PONG":
                append(_PONG)
            elif line == b"+OK":
                append(_OK)
            elif line.startswith(b"-ERR"):
                text = data[pos + 4 : end].strip()
                if len(text) >= 2 and text[:1] == text[-1:] == b"'":
                    text = text[1:-1]
                append(Err(text.decode("utf-8", "replace")))
            elif line.startswith(b"INFO") and line[4:5] in (b" ", b"\t"):
                append(Info(_info(data[pos + 5 : end])))
            else:
                raise NatsProtocolError(f"a malformed line {data[pos : pos + 60]!r}")
            pos = end + 2
        return events

    def _is_info(self, data: bytes, pos: int, end: int) -> bool:
        """Whether the line at ``pos`` is an INFO within its own, longer limit."""
        length = (len(data) if end < 0 else end) - pos
        return length <= self.max_info_line and data[pos : pos + 4].upper() == b"INFO"

    def _message(self, data: bytes, pos: int, end: int, events: list[Event]) -> int:
        """Parse an ``HMSG`` (or a ``MSG`` in another case or spacing) at ``pos``;
        return where the next line starts, or ``len(data)`` if its payload is not all
        there yet (it is held)."""
        args = data[pos:end].split()
        op = args[0].upper()
        nargs = len(args)
        if op == b"MSG" and (nargs == 4 or nargs == 5):
            header_size = 0
            size = _size(args[-1])
        elif op == b"HMSG" and (nargs == 5 or nargs == 6):
            header_size = _size(args[-2])
            size = _size(args[-1])
            if header_size > size:
                raise NatsProtocolError("an HMSG with a header larger than the message")
            nargs -= 1
        else:
            raise NatsProtocolError(f"a malformed line {data[pos : pos + 60]!r}")
        if size > self.max_payload:
            raise NatsProtocolError(
                f"a message of {size} bytes, over the limit of {self.max_payload}"
            )
        head = (
            _utf8(args[1]),
            _size(args[2]),
            _utf8(args[3]) if nargs == 5 else None,
            header_size,
            size,
        )
        start = end + 2
        if start + size + 2 > len(data):
            self._partial = head
            self._hold(data[start:], size + 2)
            return len(data)
        return self._complete(data, start, head, events)

    @staticmethod
    def _complete(
        data: bytes,
        start: int,
        head: tuple[str, int, str | None, int, int],
        events: list[Event],
    ) -> int:
        """Append the message whose payload starts at ``start`` (all of it is in
        ``data``); return where the next line starts."""
        subject, sid, reply, header_size, size = head
        stop = start + size
        if data[stop : stop + 2] != CRLF:
            raise NatsProtocolError("a message payload not followed by CRLF")
        if header_size:
            status, description, headers = parse_headers(data[start : start + header_size])
            events.append(
                Msg(
                    subject,
                    sid,
                    reply,
                    data[start + header_size : stop],
                    headers,
                    status,
                    description,
                )
            )
        else:
            events.append(Msg(subject, sid, reply, data[start:stop]))
        return stop + 2


def _info(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise NatsProtocolError(f"an INFO that is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NatsProtocolError("an INFO that is not a JSON object")
    return data


# ---- encoding ----------------------------------------------------------------------------


def check_subject(subject: str, what: str = "subject") -> bytes:
    """``subject`` encoded, or :exc:`NatsArgumentError` if the protocol cannot carry
    it (empty, or with white space or other unprintable characters)."""
    if not subject or not subject.isprintable() or " " in subject:
        raise NatsArgumentError(f"{what} {subject!r} is empty or has white space in it")
    return subject.encode("utf-8", "surrogateescape")


def encode_connect(options: Mapping[str, Any]) -> bytes:
    """A ``CONNECT`` line with ``options`` as its JSON object."""
    return b"CONNECT " + json.dumps(dict(options), separators=(",", ":")).encode() + CRLF


def encode_pub(subject: str, payload: bytes, reply: str | None = None) -> bytes:
    """A ``PUB`` of ``payload`` to ``subject``, with replies to ``reply``."""
    if not subject or not subject.isprintable() or " " in subject:
        check_subject(subject)
    if reply is None:
        return b"PUB %b %d\r\n%b\r\n" % (
            subject.encode("utf-8", "surrogateescape"),
            len(payload),
            payload,
        )
    return b"PUB %b %b %d\r\n%b\r\n" % (
        subject.encode("utf-8", "surrogateescape"),
        check_subject(reply, "reply"),
        len(payload),
        payload,
    )


def encode_headers(headers: Mapping[str, str | Sequence[str]]) -> bytes:
    """The header block for ``headers`` (a key to one value or to several)."""
    parts = [_HEADER_LINE, CRLF]
    for key, values in headers.items():
        if not key or not key.isprintable() or " " in key or ":" in key:
            raise NatsArgumentError(f"header key {key!r} cannot be sent")
        raw_key = key.encode("utf-8", "surrogateescape")
        for value in (values,) if isinstance(values, str) else values:
            if not value.isprintable():
                raise NatsArgumentError(f"header {key!r} has a control character in it")
            parts += (raw_key, b": ", value.encode("utf-8", "surrogateescape"), CRLF)
    parts.append(CRLF)
    return b"".join(parts)


def encode_hpub(
    subject: str,
    payload: bytes,
    headers: Mapping[str, str | Sequence[str]] | bytes,
    reply: str | None = None,
) -> bytes:
    """An ``HPUB``: ``headers`` is a mapping, or a block made by :func:`encode_headers`."""
    block = headers if isinstance(headers, bytes) else encode_headers(headers)
    raw_subject = check_subject(subject)
    total = len(block) + len(payload)
    if reply is None:
        line = b"HPUB %b %d %d\r\n" % (raw_subject, len(block), total)
    else:
        line = b"HPUB %b %b %d %d\r\n" % (
            raw_subject,
            check_subject(reply, "reply"),
            len(block),
            total,
        )
    return b"".join((line, block, payload, CRLF))


def encode_sub(subject: str, sid: int, queue: str | None = None) -> bytes:
    """A ``SUB`` to ``subject`` as subscription ``sid``, in queue group ``queue``."""
    if queue is None:
        return b"SUB %b %d\r\n" % (check_subject(subject), sid)
    return b"SUB %b %b %d\r\n" % (check_subject(subject), check_subject(queue, "queue"), sid)


def encode_unsub(sid: int, max_msgs: int | None = None) -> bytes:
    """An ``UNSUB`` of ``sid``: at once, or after ``max_msgs`` messages in all."""
    if max_msgs is None:
        return b"UNSUB %d\r\n" % sid
    return b"UNSUB %d %d\r\n" % (sid, max_msgs)


@final
@attrs.frozen
class PubFrame:
    """A publish read back from the bytes the client queued (see :func:`parse_pub`)."""

    subject: str
    reply: str | None
    payload: bytes
    headers: dict[str, list[str]] | None


def parse_pub(frame: bytes) -> PubFrame | None:
    """The publish in ``frame`` (one ``PUB`` or ``HPUB`` made by the encoders here), or
    ``None`` for any other client line (``SUB``, ``PING``, ...)."""
    end = frame.find(CRLF)
    args = frame[:end].split()
    if args[0] == b"PUB":
        header_size, size = 0, int(args[-1])
        reply = _utf8(args[2]) if len(args) == 4 else None
    elif args[0] == b"HPUB":
        header_size, size = int(args[-2]), int(args[-1])
        reply = _utf8(args[2]) if len(args) == 5 else None
    else:
        return None
    start = end + 2
    headers = None
    if header_size:
        headers = parse_headers(frame[start : start + header_size])[2]
    return PubFrame(_utf8(args[1]), reply, frame[start + header_size : start + size], headers)


def is_publish(frame: bytes) -> bool:
    """Whether a client line made by the encoders here is a ``PUB`` or ``HPUB``."""
    return frame.startswith((b"PUB ", b"HPUB "))


def publish_size(frame: bytes) -> int:
    """The size of a ``PUB`` or ``HPUB`` as ``max_payload`` counts it (headers included)."""
    return len(frame) - frame.find(CRLF) - 4


def encode_publish(
    subject: str,
    payload: bytes,
    reply: str | None,
    headers: Mapping[str, str | Sequence[str]] | None,
    max_payload: int,
    headers_ok: bool,
) -> bytes:
    """A ``PUB`` (or, with ``headers``, an ``HPUB``) line and payload, checked against
    the server's ``max_payload`` (:exc:`NatsPayloadTooLarge`) and its support of
    headers (:exc:`NatsArgumentError`)."""
    if headers is None:
        if len(payload) > max_payload:
            raise NatsPayloadTooLarge(
                f"{len(payload)} bytes to {subject!r}, over the server's {max_payload}"
            )
        return encode_pub(subject, payload, reply)
    if not headers_ok:
        raise NatsArgumentError("the server does not support headers")
    block = encode_headers(headers)
    if len(block) + len(payload) > max_payload:
        raise NatsPayloadTooLarge(
            f"{len(block) + len(payload)} bytes to {subject!r}, over the server's {max_payload}"
        )
    return encode_hpub(subject, payload, block, reply)
