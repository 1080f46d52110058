"""A simulated network between the ``local://`` containers of one run: seeded
latency and loss, deterministic in virtual time."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, final

import trio

from .._messages.envelope import Envelope
from .._messages.errors import ProtocolError
from .._messages.events import DeadLetterReason, ExitReason, NoProc
from .._messages.ref import AgentRef
from .._runtime.ports import no_direct_ask, no_direct_tell
from .remote import arrive, settle
from .wire import Kind, encode_message, parse

if TYPE_CHECKING:
    from .._messages.codec import Codec
    from .._messages.envelope import ReplySlot
    from .._runtime.ports import Inbound, TieOp


_PRUNE_AT = 1024
"""Asks pending from one member before those whose askers stopped waiting are forgotten."""


@final
class SimNetwork:
    """Containers opened with ``network=`` this object talk through it instead of by
    reference: each message is encoded by the codec, arrives after a latency drawn
    from ``latency`` (seconds, or a ``(low, high)`` range), and is lost with
    probability ``loss``. FIFO per container pair and at-most-once hold, as over a
    real connection; a lost message is reported as a :class:`DeadLetter` with reason
    ``LOST`` (an ask it carried is not failed: it times out, as it would).

    The draws come from ``random.Random(seed)``, so in virtual time the same seed
    gives the same deliveries, the same losses and the same trace.
    """

    def __init__(
        self, *, latency: float | tuple[float, float] = 0.0, loss: float = 0.0, seed: int = 0
    ) -> None:
        low, high = latency if isinstance(latency, tuple) else (latency, latency)
        if not 0 <= low <= high:
            raise ValueError(f"latency must be 0 <= low <= high, not {latency!r}")
        if not 0 <= loss < 1:
            raise ValueError(f"loss must be a probability below 1, not {loss!r}")
        self.latency = (low, high)
        self.loss = loss
        self.random = random.Random(seed)
        self.members: dict[str, VirtualPath] = {}
        self.delivered = 0
        self.lost = 0
        self._last: dict[tuple[str, str], float] = {}
        self._cut: set[frozenset[str]] = set()
        self._delays: dict[frozenset[str], float] = {}

    # ---- partitions, for tests -------------------------------------------------------------

    def cut(self, a: object, b: object) -> None:
        """Partition containers ``a`` and ``b`` (containers or their addresses): what
        either sends the other from now on is lost, as on a cut cable, until :meth:`heal`.

        Each side declares the other down at once, as heartbeats would: monitors
        across the cut get ``Down(noconnection)`` and links across it break.
        """
        pair = _pair(a, b)
        self._cut.add(pair)
        if len(pair) == 2:
            one, other = sorted(pair)
            for here, there in ((one, other), (other, one)):
                path = self.members.get(here)
                if path is not None:
                    path.inbound.peer_down(there, "the simulated network was cut")

    def heal(self, a: object, b: object) -> None:
        """Undo :meth:`cut` between ``a`` and ``b``."""
        self._cut.discard(_pair(a, b))

    def delay(self, a: object, b: object, seconds: float) -> None:
        """Add ``seconds`` to the latency between ``a`` and ``b``, both ways (0 removes it)."""
        if not seconds >= 0:
            raise ValueError(f"a delay is a non-negative number of seconds, not {seconds!r}")
        self._delays[_pair(a, b)] = seconds

    def __repr__(self) -> str:
        return f"<SimNetwork latency={self.latency} loss={self.loss} {sorted(self.members)}>"

    def join(self, inbound: Inbound) -> VirtualPath:
        """Attach a container; its messages to other members go through the network."""
        path = self.members[inbound.address] = VirtualPath(self, inbound)
        return path

    def transmit(self, source: VirtualPath, target: str, data: bytes, env: Envelope | None) -> bool:
        """Carry framed ``data`` from ``source`` to container ``target``; False if lost."""
        inbound = source.inbound
        pair_key = frozenset((source.address, target)) if self._cut or self._delays else None
        if (pair_key is not None and pair_key in self._cut) or (
            self.loss and self.random.random() < self.loss
        ):
            self.lost += 1
            if env is not None:
                # The sender cannot know: an ask it carried runs into its timeout.
                quiet = Envelope(env.body, env.sender, env.receiver, env.topic)
                inbound.dead(quiet, DeadLetterReason.LOST, None)
            return False
        low, high = self.latency
        now = inbound.now()
        when = now + (low if low == high else self.random.uniform(low, high))
        if pair_key is not None:
            when += self._delays.get(pair_key, 0.0)
        pair = (source.address, target)
        when = max(when, self._last.get(pair, now))  # FIFO per pair, as on one connection
        self._last[pair] = when
        inbound.call_at(when, lambda: self._arrive(source, target, data, env), True)
        return True

    def carry(self, source: VirtualPath, target: str, act: Callable[[VirtualPath], object]) -> bool:
        """Run ``act`` on ``target``'s end after the latency, in order with the messages
        between the two (a tie, or the news that ``source`` left); never lost at random:
        a connection carries its monitors and links, or ends. False if cut or gone."""
        if target not in self.members or frozenset((source.address, target)) in self._cut:
            return False
        low = self.latency[0]
        path = self.members[target]
        now = path.inbound.now()
        pair = (source.address, target)
        when = max(now + low, self._last.get(pair, now))
        self._last[pair] = when

        def arrive() -> None:
            if self.members.get(target) is path:
                act(path)

        path.inbound.call_at(when, arrive, True)
        return True

    def _arrive(self, source: VirtualPath, target: str, data: bytes, env: Envelope | None) -> None:
        path = self.members.get(target)
        if path is None:
            if env is not None:
                source.inbound.dead(env, DeadLetterReason.UNREACHABLE, NoProc())
            return
        self.delivered += 1
        path.receive(source.address, data)


def _pair(a: object, b: object) -> frozenset[str]:
    return frozenset(x if isinstance(x, str) else str(getattr(x, "address", x)) for x in (a, b))


@final
class VirtualPath:
    """One container's end of a :class:`SimNetwork` (its ``Remote``)."""

    def __init__(self, network: SimNetwork, inbound: Inbound) -> None:
        self.network = network
        self.inbound = inbound
        self.address = inbound.address
        self.codec: Codec = inbound.codec
        # The reply slots of the asks this member sent, by reply id, until answered.
        self.pending: dict[str, ReplySlot] = {}
        self._prune_at = _PRUNE_AT

    def reaches(self, container: str) -> bool:
        """Whether ``container`` is another member of the network."""
        return container != self.address and container in self.network.members

    def forward(self, env: Envelope, to: AgentRef, reply: ReplySlot | None = None) -> None:
        """Send ``env`` to agent ``to`` in another member (``reply``: an ask's slot)."""
        data = encode_message(self.codec, env, to.name)
        if reply is not None and env.reply_with is not None:
            if len(self.pending) >= self._prune_at:
                # Forget the asks whose askers stopped waiting (lost, timed out).
                self.pending = {rid: s for rid, s in self.pending.items() if not s.done}
                self._prune_at = max(_PRUNE_AT, 2 * len(self.pending))
            self.pending[env.reply_with] = reply
        self.network.transmit(self, to.container, data, env)

    ask_direct = no_direct_ask  # every ask goes by forward()
    tell_direct = no_direct_tell  # every tell too

    async def flush(self, to: AgentRef) -> None:
        """Nothing waits: the network carries each message when it is sent."""

    def publish(self, env: Envelope) -> int:
        """Send ``env`` to every other member with subscribers of its topic."""
        data: bytes | None = None
        reached = 0
        for address, path in self.network.members.items():
            if address != self.address and path.inbound.subscribed(env.topic):
                if data is None:
                    data = encode_message(self.codec, env, None)
                self.network.transmit(self, address, data, env)
                reached += 1
        return reached

    def interest(self, topic: str, add: bool) -> None:
        """Nothing to announce: the network sees every member's subscriptions."""

    def tie(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> str | None:
        """Carry a monitor or link to another member (see :meth:`Remote.tie`)."""
        source = self.address

        def arrive(path: VirtualPath) -> None:
            path.inbound.tie(source, op, id, ours, theirs, reason)

        return container if self.network.carry(self, container, arrive) else None

    def group(self, name: str, add: bool) -> None:
        """Nothing to follow: the address names the member whose class or group it is."""

    async def discover(
        self, name: str | None, cls: str | None, topic: str | None, timeout: float | None
    ) -> list[AgentRef]:
        """The matching agents of the network's other members (seen at once)."""
        await trio.lowlevel.checkpoint()
        return [
            AgentRef(address, agent)
            for address, path in self.network.members.items()
            if address != self.address
            for agent in path.inbound.matching(name, cls, topic)
        ]

    async def aclose(self) -> None:
        """Leave the network; messages still travelling to us become dead letters, and
        the other members drop their ties with us once what we sent them arrived."""
        network = self.network
        network.members.pop(self.address, None)
        source = self.address
        for other in list(network.members):
            network.carry(self, other, lambda path: path.inbound.peer_down(source, "it left"))

    def receive(self, source: str, data: bytes) -> None:
        """A frame from member ``source`` arrives."""
        item = parse(self.codec, data[4:])
        if item[0] == Kind.MSG:
            arrive(self.inbound, self.codec, item, _Return(self, source))
        elif item[0] == Kind.REPLY:
            settle(self.pending, item)
        else:
            raise ProtocolError(f"unexpected {Kind(item[0]).name} on a simulated network")


@final
class _Return:
    """The way back to the member an ask came from, for its reply."""

    __slots__ = ("address", "path")

    def __init__(self, path: VirtualPath, address: str) -> None:
        self.path = path
        self.address = address

    @property
    def frame_limit(self) -> int:
        """A simulated network carries frames of any size."""
        return sys.maxsize

    def send_frame(self, data: bytes) -> bool:
        self.path.network.transmit(self.path, self.address, data, None)
        return True
