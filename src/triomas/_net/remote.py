"""What every network does the same way: hand a message that came in to the container
(:func:`arrive`), settle an ask a reply came for (:func:`answer`), and answer an ask that
came from another container (:class:`RemoteReply`, its reply slot)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, final

from .._messages.codec import Codec
from .._messages.envelope import Envelope
from .._messages.errors import CodecError, DecodeError, EncodeError, ProtocolError
from .outcomes import encode_reply, encode_reply_error, rebuild_error
from .wire import BODY, decode_message, message_header, sender_ref

if TYPE_CHECKING:
    from .._messages.envelope import ReplySlot
    from .._runtime.ports import Inbound, PeerLink

log = logging.getLogger("triomas.network")


@final
class RemoteReply:
    """The reply slot of an ask from another container: answering sends a ``REPLY``.

    It rides in the request's envelope where a local ask's future would, so the
    callee side answers remote and local asks alike.
    """

    __slots__ = ("callee", "codec", "done", "home", "peer", "rid")

    def __init__(
        self, peer: PeerLink, rid: str, codec: Codec, home: str, callee: str | None
    ) -> None:
        self.peer = peer
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
            limit = self.peer.frame_limit
            if len(data) - 4 > limit:
                raise EncodeError(
                    f"the answer takes {len(data) - 4} bytes on the wire, over the frame "
                    f"limit of {limit} of the asker's container"
                )
        except CodecError as exc:
            log.warning(
                "%s: the reply to %s cannot travel: %s", self.origin, self.peer.address, exc
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
        if not self.peer.send_frame(data):
            log.warning(
                "%s: the reply to %s was dropped (its connection is gone, or its send buffer "
                "is full)",
                self.origin,
                self.peer.address,
            )


def arrive(
    inbound: Inbound, codec: Codec, item: list[Any], peer: PeerLink, origin: str | None = None
) -> None:
    """Hand a ``MSG`` payload (parsed) to the container behind ``inbound``; a body that
    does not decode still arrives, as its :exc:`DecodeError`, to fail that one message.

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
        inbound.arrive(env, receiver, _reply_slot(inbound, env, peer, receiver), exc)
        return
    inbound.arrive(env, receiver, _reply_slot(inbound, env, peer, receiver), None)


def arrive_tell(inbound: Inbound, codec: Codec, item: list[Any]) -> bool:
    """Hand a ``MSG`` payload (parsed) that is a plain tell to a live agent by name (no
    option, no reply, no FIPA field, no trace) to the container with no envelope made;
    False, with nothing done, if it is anything else, or its body does not decode:
    :func:`arrive` then delivers it, or reports it (PERF: net_nats_tells)."""
    if (
        len(item) <= BODY
        or item[4] is not None
        or item[5] is not None
        or item[6] is not None
        or item[7] is not None
        or item[8] is not None
        or item[10] is not None
    ):
        return False
    sender = item[1]
    receiver = item[2]
    sent = item[9]
    if (
        type(receiver) is not str
        or (sender is not None and type(sender) is not str)
        or type(sent) is not float
    ):
        return False
    body_item = item[BODY:]
    if isinstance(body_item[-1], DecodeError):
        return False
    try:
        body = codec.load(body_item)
    except DecodeError:
        return False
    if type(body).__name__ != item[3]:
        return False
    return inbound.arrive_tell(receiver, None if sender is None else sender_ref(sender), body, sent)


def _reply_slot(
    inbound: Inbound, env: Envelope, peer: PeerLink, receiver: str | None
) -> RemoteReply | None:
    if env.reply_with is None:
        return None
    return RemoteReply(peer, env.reply_with, inbound.codec, inbound.address, receiver)


def check_reply(item: list[Any]) -> tuple[str, DecodeError | None]:
    """The reply id of a ``REPLY`` payload (parsed), and the error decoding its value
    met, if any; :exc:`ProtocolError` if it is malformed."""
    error = item.pop() if isinstance(item[-1], DecodeError) else None
    if len(item) != 4 or not isinstance(item[1], str):
        raise ProtocolError("malformed REPLY")
    return item[1], error


def settle(pending: dict[str, ReplySlot], item: list[Any]) -> bool:
    """Settle the ask of ``pending`` (reply slots by reply id) that the ``REPLY`` payload
    ``item`` (parsed) answers; False if none waits for it: late, its asker stopped
    waiting, or no ask of ours. Raises :exc:`ProtocolError` if it is malformed."""
    rid = item[1] if len(item) > 1 else None
    slot = pending.pop(rid, None) if type(rid) is str else None
    if slot is None:
        check_reply(item)
        return False
    if len(item) == 4 and item[2] is True:
        slot.set_result(item[3])  # PERF: answer(), for a value that decoded (asks in flight)
    else:
        answer(slot, item)
    return True


def answer(slot: ReplySlot, item: list[Any]) -> None:
    """Settle the ask whose reply slot is ``slot`` with a ``REPLY`` payload (parsed).

    The network found the slot by the reply id (a socket network takes a reply only
    from the peer it asked).
    """
    _, error = check_reply(item)
    _, _, ok, value = item
    if error is not None:
        slot.set_error(error)
    elif ok:
        slot.set_result(value)
    else:
        slot.set_error(rebuild_error(value))
