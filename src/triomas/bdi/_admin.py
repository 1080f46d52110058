"""``Admin``: set up a system of BDI agents, environments and channels (MASPY's Admin)."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar, final

from .._agent.context import Future
from .._messages.message import message
from .._messages.ref import AgentRef
from .._runtime.container import on_start
from ._environment import Channel

if TYPE_CHECKING:
    from .._agent.agent import Agent
    from .._runtime.container import Container, RunReport

A = TypeVar("A", bound="Agent")

_ADMINS: weakref.WeakKeyDictionary[Container, Admin] = weakref.WeakKeyDictionary()
"""The Admin of each container that has one (the last made)."""


@final
@message(tag="bdi.ConnectTo")
class ConnectTo:
    """Tells a BDI agent to join channels and connect to environments (by name or address)."""

    channels: Any = ()
    environments: Any = ()


@final
class Admin:
    """Builds and starts a system in one container: agents by the dozen, their
    environments and channels, then a run (MASPY's ``Admin``).

    As in MASPY, the system starts as a whole: the BDI agents spawned in the container
    after the Admin was made run no plan and read no mail until :meth:`start` (called
    by :meth:`run`, and by the container's own ``run()`` or ``join()``), so the
    beliefs, goals and wiring set up before are all in place when the first plan runs.
    Agents that were running before the Admin was made go on. Agents and environments
    in other containers are connected by message, by address.
    """

    def __init__(self, container: Container) -> None:
        self.container = container
        """The container agents are spawned in."""
        self.started = False
        """Whether :meth:`start` was called."""
        self._waiting: list[Future] = []
        # The agents already there: an Admin made mid-run holds back only newcomers.
        self._running: weakref.WeakSet[Agent] = weakref.WeakSet(
            container.agent(ref) for ref in container.agents()
        )
        _ADMINS[container] = self
        on_start(container, self.start)

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
        by reference, name or address.

        An agent of this container is wired at once: it is in the channel, and
        believes the percepts of an environment of this container, when this returns.
        Agents elsewhere get a :class:`ConnectTo` message.
        """
        group = [agents] if isinstance(agents, (AgentRef, str)) else list(agents)
        channels = tuple(t.name for t in targets if isinstance(t, Channel))
        environments = tuple(
            t.address if isinstance(t, AgentRef) else t
            for t in targets
            if not isinstance(t, Channel)
        )
        for agent in group:
            here = self.local(agent)
            wire = getattr(here, "_wire", None)
            if wire is not None:
                wire(channels, environments, self)
            else:
                self.container.send(agent, ConnectTo(channels, environments))

    def local(self, target: AgentRef | str) -> Agent | None:
        """The live agent of this container ``target`` names, if there is one."""
        address = self.container.address
        if isinstance(target, AgentRef):
            if target.container != address:
                return None
            name = target.name
        elif "://" in target:
            container, _, name = target.rpartition("/")
            if container != address:
                return None
        else:
            name = target
        try:
            return self.container.agent(name)
        except LookupError:
            return None

    def start(self) -> None:
        """Start the system: the BDI agents of the container begin their plans and mail."""
        if not self.started:
            self.started = True
            waiting, self._waiting = self._waiting, []
            for fut in waiting:
                fut.set_result(None)

    async def run(self, *, seconds: float | None = None, until_idle: bool = True) -> RunReport:
        """Start the system and run it: until it is idle (the default), for ``seconds``
        of clock time, or, with ``until_idle=False`` and no ``seconds``, until every
        agent stops."""
        self.start()
        return await self.container.run(seconds=seconds, until_idle=until_idle)


def started(agent: Agent) -> Future | None:
    """None if BDI agent ``agent`` may run; else a future set when it may."""
    if may_run(agent):
        return None
    fut = Future()
    _ADMINS[agent.container]._waiting.append(fut)  # noqa: SLF001 - this module's own
    return fut


def may_run(agent: Agent) -> bool:
    """Whether BDI agent ``agent`` may run: no Admin of its container holds it back."""
    admin = _ADMINS.get(agent.container)
    return admin is None or admin.started or agent in admin._running  # noqa: SLF001
