"""An agent's requests to mosaik during a call: ``mosaik_of(self).get_progress()``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, final

from .._agent.agent import Agent
from ._session import SESSIONS, Session


def mosaik_of(agent: Agent) -> MosaikLink:
    """The link to mosaik of ``agent``'s container; :exc:`LookupError` if mosaik does
    not drive that container."""
    session = SESSIONS.get(agent.container)
    if session is None:
        raise LookupError(f"agent {agent.name} is in a container that mosaik does not drive")
    return MosaikLink(session, agent)


@final
class MosaikLink:
    """The simulator's requests to mosaik, made by one agent and awaited in its handler.

    While a request is out, the container's clock stands still (no other event
    happens before its answer), and answers settle in the order the requests were
    made, so a run stays repeatable. A failure in mosaik raises
    :exc:`~triomas.RemoteError` in the agent.
    """

    __slots__ = ("_agent", "_session")

    def __init__(self, session: Session, agent: Agent) -> None:
        self._session = session
        self._agent = agent

    @property
    def sid(self) -> str:
        """The simulator's id in the World."""
        return self._session.sid

    @property
    def full_id(self) -> str:
        """The agent's entity as mosaik names it (``"sid.eid"``)."""
        return f"{self._session.sid}.{self._agent.name}"

    @property
    def time_resolution(self) -> float:
        """Clock seconds per mosaik tick."""
        return self._session.resolution

    async def get_progress(self) -> float:
        """How far the whole World is, in percent of its ``until``."""
        value: float = await self._call("get_progress")
        return value

    async def get_related_entities(
        self, entities: str | Sequence[str] | None = None
    ) -> dict[str, Any]:
        """The entities related to ``entities`` (one full id, or several; by default this
        agent's own entity), as mosaik answers; an empty sequence asks for the whole
        entity graph."""
        arg: str | list[str] | None
        if entities is None:
            arg = self.full_id
        elif isinstance(entities, str):
            arg = entities
        else:
            arg = list(entities) or None
        value: dict[str, Any] = await self._call("get_related_entities", arg)
        return value

    async def get_data(self, attrs: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """Other simulators' outputs now (``{full_id: [attr, ...]}``); mosaik allows it
        only from simulators connected to this one with ``async_requests=True``, and
        during its step (deprecated in mosaik 3)."""
        value: dict[str, Any] = await self._call(
            "get_data", {key: list(names) for key, names in attrs.items()}
        )
        return value

    async def set_data(self, data: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        """Send inputs to other simulators' entities (``{src_full_id: {dest_full_id:
        {attr: value}}}``); mosaik allows it only to simulators connected to this one
        with ``async_requests=True`` (deprecated in mosaik 3)."""
        await self._call(
            "set_data", {k: {d: dict(v) for d, v in m.items()} for k, m in data.items()}
        )

    async def set_event(self, tick: int) -> None:
        """Ask mosaik to step the simulator at ``tick``: only in a real-time World
        (``rt_factor``); otherwise return a next step (set an alarm) instead."""
        await self._call("set_event", tick)

    async def _call(self, func: str, *args: Any) -> Any:
        fut = self._session.submit(func, list(args), {})
        # the agent's own wait, as any of its waits: the runtime's, for extensions
        await self._agent._wait(fut, math.inf)  # noqa: SLF001 - an extension of the agent
        return fut.result()
