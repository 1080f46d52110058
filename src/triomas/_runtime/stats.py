"""What a container can say about itself, cheaply, at any time: ``Container.stats()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import attrs

from .._messages.envelope import Envelope

if TYPE_CHECKING:
    from .cell import Cell
    from .container import Container


@final
@attrs.frozen
class AgentStats:
    """One agent, now: its name, class, lifecycle state, incarnation (1 until its first
    restart), how many restarts that makes, how many messages wait in its mailbox, and
    how many it has handed to its handlers so far (every incarnation's)."""

    name: str
    cls: str
    state: str
    incarnation: int
    restarts: int
    mailbox: int
    handled: int

    def as_dict(self) -> dict[str, Any]:
        """The same as plain values (for JSON, and for the wire)."""
        return attrs.asdict(self)


@final
@attrs.frozen
class ContainerStats:
    """A container, now: its address, clock time, agents, and dead letters by reason."""

    address: str
    time: float
    agents: list[AgentStats]
    dead_letters: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The same as plain values (for JSON, and for the wire)."""
        return {
            "address": self.address,
            "time": self.time,
            "agents": [agent.as_dict() for agent in self.agents],
            "dead_letters": dict(self.dead_letters),
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


def container_stats(
    container: Container, cells: list[Cell], dead: dict[str, int], in_flight: dict[int, int]
) -> ContainerStats:
    """The stats of ``container``, whose live cells are ``cells``; ``in_flight``: the
    messages sent this virtual round, not in a mailbox yet (by ``id`` of the cell)."""
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
                cell.handled,
            )
            for cell in cells
        ],
        dead,
    )
