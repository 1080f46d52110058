"""mosaik's frames: a 4-byte big-endian length, then UTF-8 JSON ``[type, id, content]``.

``type`` is 0 for a request (``content`` is ``[func, args, kwargs]``), 1 for a success
(``content`` is the result) and 2 for a failure (``content`` is ``[exception type,
message, *traceback lines]``). Each side numbers its own requests, so both directions may
have requests in flight on one connection. mosaik sets no limit on a frame's size; this
side refuses one over ``max_frame`` before reading it (the framing is the network's own
:class:`~triomas._net.wire.FrameDecoder`, which also refuses an empty frame).
"""

from __future__ import annotations

import enum
import json
from typing import Any, Final, final

import attrs

from .._messages.errors import EncodeError, ProtocolError
from .._net.wire import frame

MAX_FRAME: Final = 64 * 1024 * 1024
"""The default largest frame accepted from mosaik, in bytes (a step's inputs for a large
grid run to megabytes)."""


class Kind(enum.IntEnum):
    """The first item of every frame."""

    REQUEST = 0
    SUCCESS = 1
    FAILURE = 2


@final
@attrs.frozen(slots=True)
class Frame:
    """One decoded frame."""

    kind: Kind
    id: int
    content: Any


@final
@attrs.frozen(slots=True)
class Request:
    """A decoded request: ``func(*args, **kwargs)``, numbered ``id`` by its sender."""

    id: int
    func: str
    args: list[Any]
    kwargs: dict[str, Any]


_ENCODER = json.JSONEncoder(separators=(",", ":"))
_DECODER = json.JSONDecoder()


def encode(kind: Kind, msg_id: int, content: Any) -> bytes:
    """The frame of ``[kind, msg_id, content]``; :exc:`EncodeError` if ``content`` is not
    JSON (a set, an object of a class of your own, a dict with tuple keys)."""
    try:
        text = _ENCODER.encode([int(kind), msg_id, content])
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"cannot send {kind.name.lower()} {msg_id} to mosaik: {exc}") from None
    return frame(text.encode())


def decode(payload: bytes) -> Frame:
    """One frame's payload as a :class:`Frame`; :exc:`ProtocolError` if it is not UTF-8
    JSON holding ``[type, id, content]`` with a known type and an integer id."""
    try:
        item = _DECODER.decode(payload.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"a frame from mosaik is not UTF-8 JSON: {exc}") from None
    if not isinstance(item, list) or len(item) != 3:
        raise ProtocolError(f"a frame from mosaik must be [type, id, content], not {_shown(item)}")
    kind, msg_id, content = item
    if type(kind) is not int or kind not in _KINDS:
        raise ProtocolError(f"unknown frame type {_shown(kind)} from mosaik")
    if type(msg_id) is not int or msg_id < 0:
        raise ProtocolError(
            f"a frame id from mosaik must be a natural number, not {_shown(msg_id)}"
        )
    return Frame(Kind(kind), msg_id, content)


def request_of(received: Frame) -> Request:
    """The request a REQUEST frame holds; :exc:`ValueError` if its content is not
    ``[func, args, kwargs]`` (the framing is intact, so that request alone fails)."""
    content = received.content
    if (
        not isinstance(content, list)
        or len(content) != 3
        or not isinstance(content[0], str)
        or not isinstance(content[1], list)
        or not isinstance(content[2], dict)
    ):
        raise ValueError(f"a request must be [func, args, kwargs], not {_shown(content)}")
    return Request(received.id, content[0], content[1], content[2])


def failure_content(content: Any) -> tuple[str, str, str]:
    """A FAILURE frame's content as (type name, message, traceback text), as leniently
    as it can: mosaik sends ``[type, message, *traceback]``."""
    if isinstance(content, list) and content:
        parts = [str(part) for part in content]
        return parts[0], parts[1] if len(parts) > 1 else "", "".join(parts[2:])
    return "Exception", str(content), ""


_KINDS = frozenset(int(kind) for kind in Kind)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
