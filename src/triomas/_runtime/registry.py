"""The registry: one container's agents by name and by class, from spawn to stop.

It names agents (unique in the container, ``ClassName-N`` when unnamed), makes their
cells, activates agents on demand, parks agents while the container is paused, and
does the bookkeeping when an agent has started or stopped for good.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._agent.agent import Agent
from .._agent.options import LifeOptions
from .._messages.errors import AgentStateError, NameTaken
from .._messages.events import (
    AgentStarted,
    AgentStopped,
    ChildStarted,
    DeadLetterReason,
    ExitReason,
    Failure,
    Fatal,
    Shutdown,
)
from .._messages.ref import AgentRef
from .._time.future import Future
from . import watch as _watch
from .cell import Cell
from .mailbox import NO_MAIL, Bound
from .passivation import Passivation

if TYPE_CHECKING:
    from .container import Container
    from .engine import Engine
    from .router import Router
    from .tree import Supervision


FAILURES_KEPT = 100
"""How many failures :attr:`Registry.failures` keeps (a long-lived service may have many)."""


class Registry:
    """The agents of one container."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.cells: dict[str, Cell] = {}
        self.classes: dict[type, dict[Cell, None]] = {}
        self.on_class: Callable[[str, bool], object] | None = None
        """Called with ``(class name, True)`` when a class gets its first live agent
        and ``(class name, False)`` when it loses its last (a broker network subscribes)."""
        """The live cells of each agent class (exactly that class), in spawn order."""
        self.on_demand: dict[
            str, tuple[type[Agent], tuple[Any, ...], dict[str, Any], LifeOptions]
        ] = {}
        self.paused = False
        self.closed = False
        self._counters: dict[str, int] = {}
        self._parked: dict[Cell, None] = {}
        self.failures: deque[tuple[AgentRef, Failure | Fatal]] = deque(maxlen=FAILURES_KEPT)
        """The last agents that stopped for good because they failed, in order (bounded:
        a failure holds its exception, and with it the frames of its traceback)."""
        self.idle_alarms: dict[Cell, None] = {}
        """The cells that may have ``ignore_if_idle`` alarms (so idleness costs O(them))."""
        self._join_waiters: list[Future] = []
        # Set by the container once the router and the engine exist (they need this).
        self.router: Router
        self.engine: Engine
        self.root: Supervision

    def drop_idle_alarms(self) -> None:
        """The run went idle: forget every ``ignore_if_idle`` alarm."""
        cells, self.idle_alarms = self.idle_alarms, {}
        for cell in cells:
            cell.drop_idle_alarms()

    # ---- spawning -------------------------------------------------------------------------

    def spawn(
        self,
        cls: type[Agent],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        opts: LifeOptions,
        parent: Supervision,
    ) -> AgentRef:
        """Make an agent of ``cls`` under ``parent`` and start it; its reference."""
        if self.closed:
            raise AgentStateError(f"container {self.router.address} is closed")
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"spawn needs an Agent subclass, not {cls!r}")
        if parent.closing:
            raise AgentStateError(f"supervisor {parent.name} is stopping; it cannot spawn")
        name = self._claim_name(cls, name)
        cell = Cell(self.router, cls, name, args, kwargs, opts, parent)
        if opts.capacity is not None:
            cell.bound = Bound(cell, opts.capacity, opts.overflow)
            cell.deliver = cell.bound.deliver
        if opts.idle_timeout is not None:
            cell.passivation = Passivation(cell, opts.idle_timeout)
        self.cells[name] = cell
        members = self.classes.get(cls)
        if members is None:
            members = self.classes[cls] = {}
            if self.on_class is not None:
                self.on_class(cls.__name__, True)
        members[cell] = None
        parent.children[cell] = None
        self.router.trace_event(name, "spawn", cls.__qualname__)
        cell.start()
        return cell.ref

    async def await_up(self, cell: Cell, parent: Supervision, timeout: float) -> None:
        """Wait for the init-ack of ``cell``; raise its start failure, or stop it on timeout."""
        engine = self.engine
        up = cell.when_up()
        if not await engine.wait(up, engine.now() + timeout):
            await parent.terminate(cell, Shutdown("start timeout"), 0)
            raise TimeoutError(f"{cell.name} did not finish setup() within {timeout} s")
        up.result()

    def _claim_name(self, cls: type, name: str | None) -> str:
        if name is not None:
            if not name or "/" in name:
                raise ValueError(f"agent name {name!r} must be non-empty and contain no '/'")
            if name in self.cells:
                raise NameTaken(f"an agent named {name!r} already lives in {self.router.address}")
            if name in self.router.subscriptions.receivers:
                # the name would shadow the group: messages to it would reach the agent only
                raise NameTaken(
                    f"{name!r} is a receiver group in {self.router.address}; an agent cannot "
                    f"take its name"
                )
            return name
        n = self._counters.get(cls.__name__, 0)
        while True:
            n += 1
            candidate = f"{cls.__name__}-{n}"
            if candidate not in self.cells:
                self._counters[cls.__name__] = n
                return candidate

    def of_class(self, cls: type | str) -> dict[Cell, None] | None:
        """The live cells of agent class ``cls`` and its subclasses (as ``@on(Base)``
        dispatch and pykka's ``broadcast(target_class=)`` include them), or, for a class
        name, of the classes of exactly that name (MASlite's receivers), in spawn order
        class by class."""
        if isinstance(cls, str):
            matches = [members for klass, members in self.classes.items() if klass.__name__ == cls]
        else:
            matches = [members for klass, members in self.classes.items() if issubclass(klass, cls)]
        if not matches:
            return None
        if len(matches) == 1:
            return matches[0]
        merged: dict[Cell, None] = {}
        for members in matches:
            merged.update(members)
        return merged

    def named(self, name: str) -> Cell | None:
        """The live cell called ``name``, activated on demand if registered so."""
        found = self.cells.get(name)
        return found if found is not None else self.activate(name)

    def activate(self, name: str) -> Cell | None:
        """Spawn the agent registered for ``name`` with ``spawn_on_demand``, if any."""
        factory = self.on_demand.get(name)
        if factory is None or self.closed or self.root.closing:
            return None
        cls, args, kwargs, opts = factory
        self.router.trace_event(name, "activate", cls.__qualname__)
        return self.cells.get(self.spawn(cls, args, kwargs, name, opts, self.root).name)

    # ---- pausing --------------------------------------------------------------------------

    def park(self, cell: Cell) -> None:
        """Hold ``cell``'s activation until the container resumes."""
        self._parked[cell] = None

    def resume(self) -> None:
        """Let the parked agents run again."""
        self.paused = False
        parked, self._parked = self._parked, {}
        for cell in parked:
            self.engine.activate(cell)

    # ---- started and stopped --------------------------------------------------------------

    def started(self, cell: Cell) -> None:
        """``cell``'s ``setup()`` has finished: release its init-ack and tell listeners."""
        cell.mark_up()
        router = self.router
        if cell.incarnation == 1 and router.listened(AgentStarted):
            router.emit(AgentStarted(cell.ref))
        if router.listened(ChildStarted):
            router.emit(ChildStarted(cell.parent.ref, cell.ref, cell.incarnation))

    def stopped(self, cell: Cell, reason: ExitReason) -> None:
        """``cell`` stopped for good: forget it; what waits for it becomes dead letters."""
        if isinstance(reason, (Failure, Fatal)):
            self.failures.append((cell.ref, reason))
        if self.cells.get(cell.name) is cell:
            del self.cells[cell.name]
        members = self.classes.get(type(cell.agent))
        if members is not None:
            members.pop(cell, None)
            if not members:
                del self.classes[type(cell.agent)]
                if self.on_class is not None:
                    self.on_class(type(cell.agent).__name__, False)
        router = self.router
        router.subscriptions.drop(cell)
        self._parked.pop(cell, None)
        leftovers = [*cell.expand(), *self.engine.in_flight(cell)]
        cell.mailbox = NO_MAIL
        for env in leftovers:
            router.dead(env, DeadLetterReason.RECIPIENT_STOPPED, reason)
        router.trace_event(cell.name, "stop", str(reason))
        _watch.stopped_for_good(cell, reason)
        if cell.bound is not None:
            cell.bound.close(reason)
        if router.listened(AgentStopped):
            router.emit(AgentStopped(cell.ref, reason))
        if not self.cells:
            waiters, self._join_waiters = self._join_waiters, []
            for fut in waiters:
                fut.set_result(None)

    async def join(self) -> None:
        """Wait (in real time) until every agent has stopped."""
        engine = self.engine
        while self.cells:
            fut = Future()
            self._join_waiters.append(fut)
            await engine.wait(fut, math.inf)
