"""The post: messages between containers that travel through mosaik as data (mango's style).

A container opened with ``Simulator(post=True)`` gets a network of its own, a
:class:`Post`: what its agents send to an agent of another container (``local://B/name``)
is encoded by the codec, as over a socket, and waits in the post's ``outbox``; mosaik
carries the outbox to the ``inbox`` of the other container's post entity (directly, or
through a network simulator that may delay or drop it), where it is delivered at the
step it arrives in. Each item says who sent it, to which container and when::

    {"from": "local://A", "to": "local://B", "sent": 3.0, "data": "<base64 of the frame>"}

Asks work (the answer travels back the same way); publishes, monitors and links do not
cross containers.
"""

from __future__ import annotations

import base64
import binascii
import sys
from typing import TYPE_CHECKING, Any, final

import trio

from .._messages.errors import ProtocolError
from .._net.remote import arrive, settle
from .._net.wire import Kind, encode_message, parse
from .._runtime.ports import no_direct_ask, no_direct_tell

if TYPE_CHECKING:
    from .._messages.codec import Codec
    from .._messages.envelope import Envelope, ReplySlot
    from .._messages.events import ExitReason
    from .._messages.ref import AgentRef
    from .._runtime.ports import Inbound, TieOp

_PRUNE_AT = 1024
"""Asks pending before those whose askers stopped waiting are forgotten."""


@final
class Post:
    """A container's way to other containers through mosaik (its ``Remote``)."""

    def __init__(self, inbound: Inbound) -> None:
        self.inbound = inbound
        self.address = inbound.address
        self.codec: Codec = inbound.codec
        self.outbox: list[dict[str, Any]] = []
        """The items sent since mosaik last took them (see :meth:`take`)."""
        self.pending: dict[str, ReplySlot] = {}
        self._prune_at = _PRUNE_AT

    # ---- the Remote port -----------------------------------------------------------------

    def reaches(self, container: str) -> bool:
        """Every other container: whether one answers is up to the World's wiring."""
        return container != self.address

    def forward(self, env: Envelope, to: AgentRef, reply: ReplySlot | None = None) -> None:
        """Put ``env`` for agent ``to`` in the outbox (``reply``: an ask's slot)."""
        data = encode_message(self.codec, env, to.name)
        if reply is not None and env.reply_with is not None:
            if len(self.pending) >= self._prune_at:
                self.pending = {rid: s for rid, s in self.pending.items() if not s.done}
                self._prune_at = max(_PRUNE_AT, 2 * len(self.pending))
            self.pending[env.reply_with] = reply
        self.post(to.container, data)

    ask_direct = no_direct_ask  # every ask goes by forward()
    tell_direct = no_direct_tell  # every tell too

    async def flush(self, to: AgentRef) -> None:
        """Nothing to write: mosaik takes the outbox after the step."""

    def publish(self, env: Envelope) -> int:
        """Publishes stay in their container: none reaches another through mosaik."""
        return 0

    def interest(self, topic: str, add: bool) -> None:
        """Nothing to announce: topics do not cross containers here."""

    def group(self, name: str, add: bool) -> None:
        """Nothing to follow: an address names the container whose class or group it is."""

    def tie(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> str | None:
        """Monitors and links do not travel through mosaik: one across it is as good as
        broken at once (``Down`` / ``Exit`` with reason ``noconnection``)."""
        return None

    async def discover(
        self, name: str | None, cls: str | None, topic: str | None, timeout: float | None
    ) -> list[AgentRef]:
        """The post sees no other container's agents."""
        await trio.lowlevel.checkpoint()
        return []

    async def aclose(self) -> None:
        """Nothing to close."""

    # ---- the entity's side ---------------------------------------------------------------

    def post(self, container: str, data: bytes) -> None:
        """Queue a framed payload for ``container``."""
        self.outbox.append(
            {
                "from": self.address,
                "to": container,
                "sent": self.inbound.now(),
                "data": base64.b64encode(data[4:]).decode("ascii"),
            }
        )

    def take(self) -> list[dict[str, Any]]:
        """The outbox's items, which leave it."""
        items, self.outbox = self.outbox, []
        return items

    def parse_inbox(self, values: Any) -> list[tuple[str, list[Any]]]:
        """The items for this container among ``values`` (``{source: [item, ...]}``), each
        as ``(sender container, payload)``; :exc:`ValueError` names the first malformed
        one (nothing is delivered then)."""
        if not isinstance(values, dict):
            raise ValueError(f"the inbox of {self.address} takes {{source: [items]}}")
        parsed: list[tuple[str, list[Any]]] = []
        for source, items in values.items():
            if items is None:
                continue
            if not isinstance(items, list):
                items = [items]
            for item in items:
                if not (
                    isinstance(item, dict)
                    and isinstance(item.get("to"), str)
                    and isinstance(item.get("from"), str)
                    and isinstance(item.get("data"), str)
                ):
                    raise ValueError(f"a malformed item in the inbox, from {source}: {item!r:.200}")
                if item["to"] != self.address:
                    continue  # for another container on the same connection
                try:
                    payload = parse(self.codec, base64.b64decode(item["data"], validate=True))
                except (binascii.Error, ProtocolError) as exc:
                    raise ValueError(
                        f"an undecodable item in the inbox, from {source}: {exc}"
                    ) from None
                if payload[0] not in (Kind.MSG, Kind.REPLY):
                    raise ValueError(f"an item of kind {payload[0]} in the inbox, from {source}")
                parsed.append((item["from"], payload))
        return parsed

    def deliver(self, parsed: list[tuple[str, list[Any]]]) -> None:
        """Hand the items :meth:`parse_inbox` found to the container."""
        for source, payload in parsed:
            if payload[0] == Kind.MSG:
                arrive(self.inbound, self.codec, payload, _Return(self, source))
                continue
            settle(self.pending, payload)


@final
class _Return:
    """The way back to the container an ask came from, for its reply."""

    __slots__ = ("address", "post_office")

    def __init__(self, post_office: Post, address: str) -> None:
        self.post_office = post_office
        self.address = address

    @property
    def frame_limit(self) -> int:
        """mosaik carries items of any size."""
        return sys.maxsize

    def send_frame(self, data: bytes) -> bool:
        self.post_office.post(self.address, data)
        return True
