"""What a container can say about itself, cheaply, at any time: ``Container.stats()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import attrs

from .._messages.envelope import Envelope

if TYPE_CHECKING:
    from .cell import Cell
    from .container import Container
    from .engine import Engine
    from .router import Router


@final
@attrs.frozen
class AgentStats:
    """One agent, now: its name, class, lifecycle state, incarnation (1 until its first
    restart), how many restarts that makes, and how many messages wait in its mailbox.

    Counted over every incarnation: ``received``, the messages that arrived in its
    mailbox (system messages such as ``Down`` too); ``handled``, those handed to a
    handler (or taken by its own ``update()``); ``sent``, the tells, asks and publishes
    it made (a publish counts once, however many subscribers; answers to asks are
    not messages, and count in neither). ``handler_time`` is the seconds of wall
    clock from the start of each batch of handling to its end, awaits included,
    taken per batch rather than per message so that it can stay on; it is None in
    virtual time, where two clock reads would cost a simulation step about 10 %
    (``triomas.otel``'s ``triomas.handler.duration`` measures it there too).
    """

    name: str
    cls: str
    state: str
    incarnation: int
    restarts: int
    mailbox: int
    received: int
    handled: int
    sent: int
    handler_time: float | None

    def as_dict(self) -> dict[str, Any]:
        """The same as plain values (for JSON, and for the wire)."""
        return attrs.asdict(self)


@final
@attrs.frozen
class ContainerStats:
    """A container, now: its address, clock time, agents, dead letters by reason, and
    the messages sent by code outside the agents (``Container.send``, ``ask``,
    ``publish``)."""

    address: str
    time: float
    agents: list[AgentStats]
    dead_letters: dict[str, int]
    outside_sent: int = 0

    def agent(self, name: str) -> AgentStats:
        """The stats of the agent called ``name``; :exc:`KeyError` if none is live."""
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """The same as plain values (for JSON, and for the wire)."""
        return {
            "address": self.address,
            "time": self.time,
            "agents": [agent.as_dict() for agent in self.agents],
            "dead_letters": dict(self.dead_letters),
            "outside_sent": self.outside_sent,
        }


def depth(cell: Cell) -> int:
    """How many messages wait for ``cell`` (a plain tell in a compact mailbox takes
    three entries)."""
    mailbox = cell.mailbox
    if not cell.compact:
        return len(mailbox)
    count = skip = 0
    for item in mailbox:
        if skip:
            skip -= 1
            continue
        count += 1
        if type(item) is not Envelope:
            skip = 2
    return count


def container_stats(container: Container, router: Router, engine: Engine) -> ContainerStats:
    """The stats of ``container``, whose router and engine these are."""
    dead = {str(reason): n for reason, n in router.dead_letter_counts.items()}
    # the messages sent this virtual round, not in a mailbox yet (by id of the cell)
    virtual = engine.virtual
    in_flight: dict[int, int] = engine.scheduler.in_flight() if virtual else {}  # type: ignore[attr-defined]
    cells = list(router.cells.values())
    return ContainerStats(
        container.address,
        container.clock.now(),
        [
            AgentStats(
                cell.name,
                type(cell.agent).__qualname__,
                cell.life.name.lower(),
                cell.incarnation,
                cell.incarnation - 1,
                depth(cell) + in_flight.get(id(cell), 0),
                cell.received + in_flight.get(id(cell), 0),
                cell.handled,
                cell.sent,
                None if virtual else cell.busy,
            )
            for cell in cells
        ],
        dead,
        router.outside.sent,
    )
