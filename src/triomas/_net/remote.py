"""What a container needs from a network, whichever kind: the ``Remote`` interface,
and the reply slot that answers an ask which came from another container."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol, final

from .._messages.codec import Codec
from .._messages.envelope import Envelope
from .._messages.errors import CodecError, DecodeError, EncodeError, ProtocolError
from .._messages.ref import AgentRef
from .wire import decode_message, encode_reply, encode_reply_error, message_header, rebuild_error

if TYPE_CHECKING:
    from .._runtime.container import Container

log = logging.getLogger("triomas.network")


class Link(Protocol):
    """Where frames for one peer container go (a connection, or a simulated path)."""

    address: str

    @property
    def frame_limit(self) -> int:
        """The largest frame the peer accepts."""
        ...

    def send_frame(self, data: bytes) -> bool:
        """Queue ``data`` for the peer; False if it cannot be sent (the buffer is full)."""
        ...


class Remote(Protocol):
    """A container's way to other containers: a socket network or a simulated one."""

    codec: Codec

    def reaches(self, container: str) -> bool:
        """Whether this network can carry messages to ``container``."""
        ...

    def forward(self, env: Envelope, to: AgentRef, ask: bool = False) -> None:
        """Send ``env`` to agent ``to`` in another container; never blocks.

        Raises :exc:`EncodeError` if the message cannot travel; what cannot be
        delivered later becomes a dead letter. ``ask``: ``env.reply_with`` is the key
        of an ask's reply slot, and the writing is left to a :meth:`flush` the
        caller makes next.
        """
        ...

    async def flush(self, to: AgentRef) -> None:
        """Write what waits for ``to``'s container, from the calling task."""
        ...

    def publish(self, env: Envelope) -> int:
        """Send a publish to every peer with subscribers of ``env.topic``; how many."""
        ...

    def interest(self, topic: str, add: bool) -> None:
        """Tell peers that this container gained or lost subscribers of ``topic``."""
        ...

    async def aclose(self) -> None:
        """Close every connection and stop listening."""
        ...


@final
class RemoteReply:
    """The reply slot of an ask from another container: answering sends a ``REPLY``.

    It stands in the run's reply table where a local ask's future would, so the
    callee side answers remote and local asks alike.
    """

    __slots__ = ("callee", "codec", "done", "home", "link", "rid")

    def __init__(self, link: Link, rid: str, codec: Codec, home: str, callee: str | None) -> None:
        self.link = link
        self.rid = rid
        self.codec = codec
        self.home = home
        self.callee = callee
        self.done = False

    @property
    def origin(self) -> str:
        """The address of the agent asked: where an error says it came from."""
        return f"{self.home}/{self.callee}"

    def set_result(self, value: Any) -> bool:
        """Send ``value`` back; an unencodable value is sent as an error instead."""
        if self.done:
            return False
        self.done = True
        try:
            data = encode_reply(self.codec, self.rid, value)
            limit = self.link.frame_limit
            if len(data) - 4 > limit:
                raise EncodeError(
                    f"the answer takes {len(data) - 4} bytes on the wire, over the frame "
                    f"limit of {limit} of the asker's container"
                )
        except CodecError as exc:
            log.warning(
                "%s: the reply to %s cannot travel: %s", self.origin, self.link.address, exc
            )
            data = encode_reply_error(self.codec, self.rid, exc, self.origin)
        self._send(data)
        return True

    def set_error(self, error: BaseException) -> bool:
        """Send ``error`` back, described (type, message, origin, traceback text)."""
        if self.done:
            return False
        self.done = True
        try:
            data = encode_reply_error(self.codec, self.rid, error, self.origin)
        except CodecError:
            data = encode_reply_error(self.codec, self.rid, EncodeError(str(error)), self.origin)
        self._send(data)
        return True

    def _send(self, data: bytes) -> None:
        if not self.link.send_frame(data):
            log.warning(
                "%s: the reply to %s was dropped (its connection is gone, or its send buffer "
                "is full)",
                self.origin,
                self.link.address,
            )


def arrive(
    container: Container, codec: Codec, item: list[Any], link: Link, origin: str | None = None
) -> None:
    """Hand a ``MSG`` payload (parsed) to ``container``; a body that does not decode
    still arrives, as its :exc:`DecodeError`, to fail that one message.

    ``origin``: the address of the container the payload came from, if known; a
    sender elsewhere is a forgery, a :exc:`ProtocolError`.
    """
    error = item.pop() if isinstance(item[-1], DecodeError) else None
    if origin is not None:
        sender = item[1] if len(item) > 1 else None
        if sender is not None and (type(sender) is not str or sender.rpartition("/")[0] != origin):
            raise ProtocolError(f"a message from {origin} claims the sender {sender!r:.200}")
    try:
        if error is not None:
            raise error
        env, receiver = decode_message(codec, item)
    except DecodeError as exc:
        env, receiver = message_header(item)
        env.body = exc
        container._arrive(env, receiver, link, exc)
        return
    container._arrive(env, receiver, link, None)


def check_reply(item: list[Any]) -> tuple[str, DecodeError | None]:
    """The reply id of a ``REPLY`` payload (parsed), and the error decoding its value
    met, if any; :exc:`ProtocolError` if it is malformed."""
    error = item.pop() if isinstance(item[-1], DecodeError) else None
    if len(item) != 4 or not isinstance(item[1], str):
        raise ProtocolError("malformed REPLY")
    return item[1], error


def answer(container: Container, item: list[Any], key: str | None = None) -> str:
    """Settle the pending ask a ``REPLY`` payload (parsed) answers; return its reply id.

    ``key`` is the ask's reply slot when the network looked it up itself (a socket
    network takes a reply only from the peer asked); else the reply id is the key.
    """
    rid, error = check_reply(item)
    fut = container._replies.pop(rid if key is None else key, None)
    if fut is None:
        return rid  # late: the asker stopped waiting
    _, _, ok, value = item
    if error is not None:
        fut.set_error(error)
    elif ok:
        fut.set_result(value)
    else:
        fut.set_error(rebuild_error(value))
    return rid
