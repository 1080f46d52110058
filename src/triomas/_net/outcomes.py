"""What travels back: the ``REPLY`` payload (a value, or an error described so that the
asking side can rebuild it), and the ``TIE`` payload with the exit reasons it carries.

The frames and the other payloads are in :mod:`.wire`.
"""

from __future__ import annotations

import traceback
from typing import Any

from .._messages.codec import Codec
from .._messages.errors import (
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
from .._messages.events import ExitReason, Failure, Fatal, NoConnection, NoProc, Normal, Shutdown
from .wire import MAX_ADDRESS, Kind, frame

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


def _inner(text: str, kind: str) -> str:
    """What stands between the parentheses of ``kind(...)``, or the whole text."""
    return text[len(kind) + 1 : -1] if text.startswith(f"{kind}(") else text


def _reason(kind: str, text: str, remote: RemoteError | None) -> ExitReason:
    error = remote if remote is not None else RemoteError("Exception", text, "?", "")
    if kind == "normal":
        return Normal()
    if kind == "shutdown":
        return Shutdown(_inner(text, "shutdown"))
    if kind == "failure":
        return Failure(error)
    if kind == "fatal":
        return Fatal(error)
    if kind == "noconnection":
        return NoConnection("" if text == "noconnection" else _inner(text, "noconnection"))
    return NoProc()


def encode_tie(
    codec: Codec, op: int, id: int, ours: str, theirs: str, reason: ExitReason | None, origin: str
) -> bytes:
    """The framed ``TIE`` payload (see :class:`~triomas._runtime.ports.TieOp`)."""
    described = None if reason is None else describe_reason(reason, origin)
    return frame(codec.pack((Kind.TIE, op, id, ours, theirs, described)))


def decode_tie(item: list[Any]) -> tuple[int, int, str, str, ExitReason | None]:
    """The op, monitor id, both agents' names and the reason of a ``TIE`` payload
    (parsed); :exc:`ProtocolError` if it is malformed."""
    if len(item) != 6:
        raise ProtocolError("malformed TIE")
    _, op, id, ours, theirs, reason = item
    if type(op) is not int or not 0 <= op <= _MAX_TIE_OP:
        raise ProtocolError(f"malformed TIE: op {op!r:.20}")
    if type(id) is not int or not 0 <= id < 1 << 63:
        raise ProtocolError("malformed TIE: bad monitor id")
    for name in (ours, theirs):
        if not isinstance(name, str) or len(name) > MAX_ADDRESS or "/" in name:
            raise ProtocolError("malformed TIE: bad agent name")
    return op, id, ours, theirs, None if reason is None else rebuild_reason(reason)


_MAX_TIE_OP = 5


def describe_reason(reason: ExitReason, origin: str) -> list[Any]:
    """An exit reason as msgpack-ready data, ``[kind, text, exception]``; a failure's
    exception travels as a :class:`RemoteError`'s parts (see :func:`rebuild_reason`)."""
    cause = reason.exception if isinstance(reason, (Failure, Fatal)) else None
    return [_reason_kind(reason), str(reason)[:2000], _exception(cause, origin)]


def rebuild_reason(data: Any) -> ExitReason:
    """The exit reason :func:`describe_reason` described; :exc:`ProtocolError` if the
    data is malformed."""
    try:
        kind, text, cause = data
        if not isinstance(kind, str) or not isinstance(text, str):
            raise TypeError(kind)
        return _reason(kind, text, _remote(cause))
    except (ValueError, TypeError):
        raise ProtocolError(f"malformed exit reason: {data!r:.200}") from None


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
