"""``Admin``: set up a system of BDI agents, environments and channels (MASPY's Admin)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar, final

from .._messages.message import message
from .._messages.ref import AgentRef
from ._environment import Channel

if TYPE_CHECKING:
    from .._agent.agent import Agent
    from .._runtime.container import Container, RunReport

A = TypeVar("A", bound="Agent")


@final
@message(tag="bdi.ConnectTo")
class ConnectTo:
    """Tells a BDI agent to join channels and connect to environments (by name or address)."""

    channels: Any = ()
    environments: Any = ()


@final
class Admin:
    """Builds and starts a system in one container: agents by the dozen, their
    environments and channels, then a run.

    Everything it does is a message or a spawn, so agents and environments in
    other containers are connected the same way, by address.
    """

    def __init__(self, container: Container) -> None:
        self.container = container
        """The container agents are spawned in."""

    async def agents(
        self, cls: type[A], count: int, *args: Any, prefix: str | None = None, **kwargs: Any
    ) -> list[AgentRef]:
        """Spawn ``count`` agents of ``cls`` named ``<prefix>_1`` ... (MASPY's naming;
        the prefix defaults to the class name), all with the same arguments."""
        base = cls.__name__ if prefix is None else prefix
        return [
            await self.container.spawn(cls, *args, name=f"{base}_{i}", **kwargs)
            for i in range(1, count + 1)
        ]

    def connect(
        self,
        agents: AgentRef | str | Iterable[AgentRef | str],
        *targets: Channel | AgentRef | str,
    ) -> None:
        """Connect each agent to each target: a :class:`Channel`, or an environment
        by reference, name or address."""
        group = [agents] if isinstance(agents, (AgentRef, str)) else list(agents)
        channels = tuple(t.name for t in targets if isinstance(t, Channel))
        environments = tuple(
            t.address if isinstance(t, AgentRef) else t
            for t in targets
            if not isinstance(t, Channel)
        )
        for agent in group:
            self.container.send(agent, ConnectTo(channels, environments))

    async def run(self, *, seconds: float | None = None, until_idle: bool = True) -> RunReport:
        """Run the system: until it is idle (the default), for ``seconds`` of clock
        time, or, with ``until_idle=False`` and no ``seconds``, until every agent stops."""
        return await self.container.run(seconds=seconds, until_idle=until_idle)
