"""The container: the facade users hold, over the registry, the router and an engine.

Everything an operation needs lives in a module of its own: names and cells in
:mod:`.registry`, routing, asks and dead letters in :mod:`.router`, the mailbox in
:mod:`.mailbox`, handler calls in :mod:`.dispatch`, scheduling in :mod:`.live` and
:mod:`.virtual`, the supervision tree in :mod:`.tree`. The module functions at the end
are for the composition root (``open_container``, nodes), not for users.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, final, overload

import attrs
import trio

from .._agent.agent import Agent, Recipient
from .._agent.options import Overflow, Restart, options
from .._agent.rpc import Proxy, connect
from .._messages.codec import DEFAULT_CODEC, Codec
from .._messages.errors import AgentStateError
from .._messages.events import (
    DeadLetterReason,
    Failure,
    Fatal,
    Shutdown,
    SystemEvent,
    TraceRecord,
)
from .._messages.message import MESSAGE_CLASSES, check_send
from .._messages.ref import AgentRef, as_ref
from .._time.clock import Clock, RealClock, VirtualClock, VirtualTimeBase
from .lifecycle import StopKind
from .live import LiveEngine
from .progress import Progress, RichProgress, run_in_slices
from .registry import Registry
from .router import Router
from .run import RunDefaults, RunEnd
from .stats import ContainerStats, container_stats
from .tells import tell
from .tree import Supervision
from .virtual import VirtualEngine

if TYPE_CHECKING:
    from .observer import Observer
    from .ports import Remote
    from .probe import Probe

log = logging.getLogger("triomas")

A = TypeVar("A", bound=Agent)


@final
@attrs.frozen
class RunReport:
    """How a :meth:`Container.run` ended: why, at what clock time, after how many rounds."""

    reason: RunEnd
    time: float
    rounds: int


@final
class Container:
    """A home for agents: names, routing, topics, and run control.

    Open one with :func:`open_container`. Local delivery passes message objects by
    reference. Delivery is at-most-once and FIFO per sender→receiver pair; what
    cannot be delivered becomes a :class:`DeadLetter` event.
    """

    def __init__(
        self,
        address: str,
        clock: Clock,
        seed: int | str,
        trace: Callable[[TraceRecord], object] | None,
        nursery: trio.Nursery,
        run: RunDefaults,
        max_restarts: int = 3,
        period: float = 5.0,
        shutdown_timeout: float = math.inf,
        codec: Codec | None = None,
        strict: bool = False,
    ) -> None:
        self.address = address
        self.clock = clock
        self.seed = seed
        self.codec = codec if codec is not None else DEFAULT_CODEC
        self._run = run
        self._nursery = nursery
        self._registry = registry = Registry(self)
        self._engine: LiveEngine | VirtualEngine
        if isinstance(clock, VirtualTimeBase):
            self._engine = VirtualEngine(registry, clock.scheduler())
        elif isinstance(clock, RealClock):
            self._engine = LiveEngine(registry, nursery, clock.origin)
        else:
            raise TypeError(f"unsupported clock {clock!r}")
        registry.engine = self._engine
        self._router = Router(address, self._engine, registry, run, self.codec, strict, trace)
        self._outside = self._router.outside  # the sender of Container.send
        registry.router = self._router
        self._router.container = self
        self._root = Supervision(self, None, max_restarts=max_restarts, period=period)
        registry.root = self._root
        self._nodes: list[Stoppable] = []
        self._failure: BaseException | None = None
        # Called once when run() or join() is first called (an Admin starts its system).
        self._on_start: list[Callable[[], object]] = []
        self._shutdown_timeout = shutdown_timeout
        self._body_scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        return f"<Container {self.address} with {len(self._registry.cells)} agents>"

    @property
    def dead_letter_counts(self) -> collections.Counter[DeadLetterReason]:
        """How many dead letters of each reason this container has had."""
        return self._router.dead_letter_counts

    @property
    def failures(self) -> list[tuple[AgentRef, Failure | Fatal]]:
        """The agents that stopped for good because they failed (a first ``setup()`` that
        raised, a crash with no restart left, a temporary agent that crashed), with the
        failure, in the order they stopped; the last 100 of them. A crash that was
        restarted is not here. A program can end with ``sys.exit(1)`` when this is not
        empty, so that a failure is not an exit status of 0."""
        return list(self._registry.failures)

    # ---- agents --------------------------------------------------------------------------

    async def spawn(
        self,
        cls: type[A],
        *args: Any,
        name: str | None = None,
        restart: Restart = "transient",
        shutdown: float | None = None,
        capacity: int | None = None,
        overflow: Overflow = "block",
        idle_timeout: float | None = None,
        **kwargs: Any,
    ) -> AgentRef:
        """Create an agent of ``cls`` under the container's root supervisor; return its reference.

        It returns at once: ``setup()`` runs as the agent's first step, and messages
        sent meanwhile wait for it (:meth:`start` waits for it). ``args`` and
        ``kwargs`` go to ``cls.__init__``. Unnamed agents are called ``ClassName-N``
        in spawn order. ``restart`` says when a new incarnation replaces an ended
        one: ``"transient"`` (after a failure), ``"permanent"`` (after any end but a
        stop from outside) or ``"temporary"`` (never). ``shutdown`` bounds, in
        clock seconds, how long a graceful stop may take before the agent is
        cancelled (0: at once; ``math.inf``: no limit); it defaults to 5 s, and to
        ``inf`` for a :class:`Supervisor`, which stops its children first.

        ``capacity`` bounds the mailbox (default: unbounded); when it is full,
        ``overflow`` decides: ``"block"`` (``send`` raises :exc:`MailboxFull`,
        ``send_wait`` and ``ask`` wait for room), ``"fail"`` (:exc:`MailboxFull`),
        ``"drop_new"`` or ``"drop_oldest"`` (that message becomes a dead letter).
        System messages (``Down``, ``Exit``) and the agent's alarms are not counted,
        and are handled before waiting user messages.

        ``idle_timeout``: after that many clock seconds without a message the agent
        stops with ``Shutdown("idle")`` and is not restarted (see
        :meth:`spawn_on_demand` to bring it back when a message comes).
        """
        opts = options(cls, restart, shutdown, capacity, overflow, idle_timeout)
        return self._registry.spawn(cls, args, kwargs, name, opts, self._root)

    async def start(
        self,
        cls: type[A],
        *args: Any,
        name: str | None = None,
        restart: Restart = "transient",
        shutdown: float | None = None,
        capacity: int | None = None,
        overflow: Overflow = "block",
        idle_timeout: float | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> AgentRef:
        """Like :meth:`spawn`, but wait until ``setup()`` has finished (the init-ack).

        If the first ``setup()`` raises, that exception is raised here (a first start
        is never retried); after ``timeout`` clock seconds the agent is stopped and
        :exc:`TimeoutError` is raised.
        """
        opts = options(cls, restart, shutdown, capacity, overflow, idle_timeout)
        ref = self._registry.spawn(cls, args, kwargs, name, opts, self._root)
        cell = ref._cell
        assert cell is not None
        await self._registry.await_up(cell, self._root, timeout)
        return ref

    def spawn_on_demand(
        self,
        name: str,
        cls: type[A],
        *args: Any,
        restart: Restart = "transient",
        shutdown: float | None = None,
        capacity: int | None = None,
        overflow: Overflow = "block",
        idle_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Activate ``name`` on demand: whenever a message comes for it and no agent of
        that name is alive, spawn ``cls(*args, **kwargs)`` under it and deliver.

        With ``idle_timeout`` this is Orleans' virtual actor: it stops when unused
        and comes back, as a fresh agent, with the next message. The options are
        those of :meth:`spawn`.
        """
        if not name or "/" in name:
            raise ValueError(f"agent name {name!r} must be non-empty and contain no '/'")
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"spawn_on_demand needs an Agent subclass, not {cls!r}")
        opts = options(cls, restart, shutdown, capacity, overflow, idle_timeout)
        self._registry.on_demand[name] = (cls, args, kwargs, opts)

    async def spawn_probe(self, name: str = "probe") -> Probe:
        """Spawn a :class:`~triomas.testing.Probe` called ``name``: a test's agent that
        keeps what it receives and says what must and must not arrive."""
        from .probe import Probe  # tests only: loaded when used

        return self.agent(await self.spawn(Probe, name=name), Probe)

    def stats(self) -> ContainerStats:
        """What the container can say about itself now: each live agent's class, state,
        incarnation, restarts, mailbox depth, messages received, handled and sent and
        handler time (see :class:`AgentStats`), and the dead letters by reason. Cheap
        enough to stay on: a few counters per message, a clock read per batch."""
        return container_stats(self, self._router, self._engine)

    @property
    def trace(self) -> Callable[[TraceRecord], object] | None:
        """The trace hook given to :func:`open_container` (a :class:`TraceRecorder`, say)."""
        return self._router.trace

    def observe(self, observer: Observer | None) -> None:
        """Have ``observer`` see each ask and handled message (None: stop; see otel)."""
        self._router.observe(observer)

    async def discover(
        self,
        *,
        name: str | None = None,
        cls: type | str | None = None,
        topic: str | type | None = None,
        timeout: float | None = None,
    ) -> list[AgentRef]:
        """The agents, here and in the containers the network can see, named ``name``,
        of class ``cls`` (by class name), or subscribed to ``topic``, sorted. Over NATS
        every container of the cluster answers (within ``timeout`` seconds); a
        ``SimNetwork`` sees its members; a TCP or unix network only this container."""
        return await self._router.discover(name, cls, topic, timeout)

    def lookup(self, name: str) -> AgentRef | None:
        """The reference of the live agent called ``name``, if any."""
        cell = self._registry.cells.get(name)
        return cell.ref if cell is not None else None

    def agents(self) -> list[AgentRef]:
        """References of the live agents, in spawn order."""
        return [cell.ref for cell in self._registry.cells.values()]

    @overload
    def agent(self, ref: AgentRef | str) -> Agent: ...
    @overload
    def agent(self, ref: AgentRef | str, cls: type[A]) -> A: ...
    def agent(self, ref: AgentRef | str, cls: type[Agent] = Agent) -> Agent:
        """The agent object behind a local reference or name (for tests and tools).

        Pass its class to get it typed as such (checked): ``c.agent(ref, Counter).count``.
        """
        cell = self._registry.cells.get(ref.name if isinstance(ref, AgentRef) else ref)
        if cell is None:
            raise LookupError(f"no live agent {ref} in {self.address}")
        if not isinstance(cell.agent, cls):
            raise TypeError(f"{ref} is a {type(cell.agent).__name__}, not a {cls.__name__}")
        return cell.agent

    async def remove(self, to: AgentRef | str, *, timeout: float | None = None) -> None:
        """Stop one agent and wait until its teardown has run.

        It finishes its current message first; after ``timeout`` clock seconds
        (default: its ``shutdown``) its work is cancelled.
        """
        cell = self._router.single(to)
        if cell is not None:
            await cell.parent.terminate(cell, Shutdown("removed"), timeout)

    async def stop(self) -> None:
        """Stop every agent: the root's children one by one in reverse spawn order,
        each stopping its own children first.

        If that takes longer than the container's ``shutdown_timeout``, whatever is
        left is cancelled at once (see :func:`open_container`).
        """
        engine = self._engine
        timer = None
        if self._shutdown_timeout != math.inf:
            timer = engine.call_at(engine.now() + self._shutdown_timeout, self._hard_stop, True)
        try:
            await self._root.shutdown(Shutdown("container stopped"))
        finally:
            if timer is not None:
                timer.cancel()

    def _hard_stop(self) -> None:
        left = [cell for cell in self._registry.cells.values() if cell.alive]
        log.warning(
            "%s: shutdown took longer than %g s; cancelling %d agents: %s",
            self.address,
            self._shutdown_timeout,
            len(left),
            ", ".join(cell.name for cell in left[:10]),
        )
        for cell in left:
            cell.stop_kind = StopKind.FINAL
            cell.request_stop(Shutdown("shutdown timeout"))
            self._engine.kill(cell)

    async def join(self) -> None:
        """Wait until every agent has stopped (in virtual time, this runs the simulation).

        With a :class:`VirtualClock`, if the simulation goes idle while agents are
        alive, they can never stop: that raises :exc:`AgentStateError` instead of
        waiting forever. (An :class:`ExternalClock` waits for ``advance_to``.)
        """
        engine = self._engine
        engine.check_outside("join()")
        self._starting()
        if isinstance(engine, VirtualEngine) and isinstance(self.clock, VirtualClock):
            if (
                await engine.scheduler.drive(lambda: not self._registry.cells, until_idle=True)
                and self._registry.cells
            ):
                cells = self._registry.cells
                names = ", ".join(list(cells)[:5])
                raise AgentStateError(
                    f"join() would wait forever: the simulation is idle and {len(cells)} "
                    f"agents are alive ({names}...); stop them, or use run_until_idle()"
                )
            return
        await self._registry.join()

    def link(self, a: AgentRef | str, b: AgentRef | str) -> None:
        """Link two agents both ways (see :meth:`Agent.link`), from outside them."""
        router = self._router
        first = router.single(a)
        if first is None:
            raise LookupError(f"no live agent {a} in {self.address}")
        first.link(b)  # the agent's own call: to an agent here or in another container

    # ---- messaging from outside the agents -----------------------------------------------

    def send(self, to: Recipient, msg: Any, *, topic: str | None = None) -> None:
        """Send ``msg`` from outside any agent (the envelope's sender is None)."""
        # PERF: the check inline; its function (which says why) only on failure
        if type(msg) not in MESSAGE_CLASSES or (
            type(to) is not AgentRef
            and ("/" in to if type(to) is str else not isinstance(to, (str, type)))
        ):
            check_send(to, msg, "send")
        if topic is None:
            tell(self._outside, to, msg)
        else:
            self._router.send(None, to, msg, topic, False, None, None, None, None, None, None)

    async def send_wait(
        self, to: Recipient, msg: Any, *, timeout: float | None = None, topic: str | None = None
    ) -> None:
        """Send from outside any agent, waiting for room; see :meth:`Agent.send_wait`."""
        await self._router.send_wait(None, to, msg, timeout, topic)

    async def connect(self, to: AgentRef | str, *, timeout: float = 5.0) -> Proxy:
        """A proxy to an agent's ``@expose`` methods from outside; see :meth:`Agent.connect`."""
        return await connect(self.ask, as_ref(to, self.address), timeout)

    def ask(
        self, to: Recipient, msg: Any, *, timeout: float | None = 5.0
    ) -> Coroutine[Any, Any, Any]:
        """Ask from outside any agent (await it); see :meth:`Agent.ask`."""
        # PERF: the check inline (its function says why, on failure); the router's
        # awaitable itself, so no frame here on every resume (net_inflight_tcp)
        if type(msg) not in MESSAGE_CLASSES or (
            type(to) is not AgentRef
            and ("/" in to if type(to) is str else not isinstance(to, (str, type)))
        ):
            check_send(to, msg, "ask")
        return self._router.ask(None, to, msg, math.inf if timeout is None else timeout, None, None)

    def publish(self, msg: Any, *, topic: str | type | None = None) -> None:
        """Publish from outside any agent; see :meth:`Agent.publish`."""
        if type(msg) not in MESSAGE_CLASSES:
            check_send(self.address, msg, "publish")  # raises, saying why
        self._router.publish(None, msg, topic)

    def on_event(self, callback: Callable[[SystemEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every system event; returns the unsubscriber.

        Agents can get the same events as messages: ``self.subscribe(topic=DeadLetter)``.
        """
        callbacks = self._router.event_callbacks
        callbacks.append(callback)
        return lambda: callbacks.remove(callback)

    # ---- run control ---------------------------------------------------------------------

    @property
    def virtual(self) -> bool:
        """Whether this container runs in virtual time."""
        return self._engine.virtual

    @property
    def round(self) -> int:
        """Delivery rounds done so far (virtual time; always 0 in real time)."""
        engine = self._engine
        return engine.scheduler.rounds if isinstance(engine, VirtualEngine) else 0

    @property
    def paused(self) -> bool:
        """Whether message processing is held (see :meth:`pause`)."""
        return self._registry.paused

    def pause(self) -> None:
        """Hold message processing; messages and alarms queue up until :meth:`resume`.

        A run in progress ends (reason ``"paused"``) once the current step is done: an
        agent may pause the container from a handler (MASlite's ``pause()``).
        """
        if not self._registry.paused:
            self._registry.paused = True
            self._engine.paused()

    def resume(self) -> None:
        """Let the agents run again."""
        self._registry.resume()

    async def run_until_idle(self) -> RunReport:
        """Run until quiescent: no message waiting, no blocking alarm due, every agent waiting."""
        return await self.run(until_idle=True)

    async def run(
        self,
        *,
        seconds: float | None = None,
        iterations: int | None = None,
        until_idle: bool = False,
        until: Callable[[], bool] | None = None,
        progress: bool | Progress | None = None,
    ) -> RunReport:
        """Let the container run until a limit is reached, and report which.

        ``seconds`` of clock time, ``iterations`` delivery rounds (virtual time
        only), quiescence if ``until_idle`` (whichever comes first, with ``seconds``);
        with no limit, until every agent has stopped. In virtual time a run also ends
        when nothing more can happen (reason ``"idle"``). A paused container is resumed;
        a pause during the run ends it (reason ``"paused"``). When the run goes idle,
        alarms set with ``ignore_if_idle=True`` are dropped. In virtual time nothing
        happens between calls that wait on the simulation; in real time agents go on.

        ``until``: a predicate, checked after every round (virtual time) or whenever an
        agent ends a step (real time); the run ends as soon as it holds (``"until"``):
        "until the probe has 3 messages", with no sleep.

        ``progress`` (with ``seconds``): run in slices and show how far the clock got, on
        a rich bar (``True``) or a :class:`Progress` of your own; the default is
        :func:`triomas.run`'s ``progress``.
        """
        if progress is None:
            progress = self._run.progress
        if progress:
            if seconds is None or iterations is not None:
                raise ValueError("progress= needs seconds= (and no iterations=)")
            shown: Progress = RichProgress() if progress is True else progress
            return await run_in_slices(
                shown,
                self.clock.now,
                seconds,
                lambda part: self.run(
                    seconds=part, until_idle=until_idle, until=until, progress=False
                ),
                RunReport,
            )
        engine = self._engine
        engine.check_outside("run()")
        self._starting()
        self.resume()
        registry = self._registry
        reason, rounds = await engine.run_until(
            seconds,
            iterations,
            until_idle,
            lambda: not registry.cells,
            self.join,
            lambda: registry.paused,
            until,
        )
        if reason == "idle":
            self._registry.drop_idle_alarms()
        return RunReport(reason, engine.now(), rounds)

    def _starting(self) -> None:
        callbacks, self._on_start = self._on_start, []
        for callback in callbacks:
            callback()

    def _fail(self, error: BaseException) -> None:
        """The root supervisor gave up: end the body of :func:`open_container` with ``error``."""
        if self._failure is None:
            self._failure = error
            if self._body_scope is not None:
                self._body_scope.cancel()


class Stoppable(Protocol):
    """Something a container stops when it closes (a node it started)."""

    async def stop(self) -> object:
        """Stop it."""
        ...


# ---- for the composition root (open_container, spawn_container) ---------------------------


def attach_network(container: Container, remote: Remote) -> None:
    """Give ``container`` its way to other containers."""
    router = container._router
    router.remote = remote
    router.dial_out = None
    router.subscriptions.on_topic = remote.interest
    router.subscriptions.on_group = router.registry.on_class = remote.group


def allow_dial_out(container: Container, dial_out: Callable[[str], Remote | None]) -> None:
    """Let ``container``, which has no network, make one when it first sends to an
    address: ``dial_out(container_address)`` makes and attaches it, or returns None
    if no network reaches that address."""
    container._router.dial_out = dial_out


def on_start(container: Container, callback: Callable[[], object]) -> None:
    """Call ``callback()`` once, when ``container.run()`` or ``join()`` is first called
    after this (an :class:`~triomas.bdi.Admin` starts its system then, at the latest)."""
    container._on_start.append(callback)


def network_of(container: Container) -> Remote | None:
    """The network ``container`` reaches other containers by, if any."""
    return container._router.remote


def inbound(container: Container) -> Router:
    """The port a network calls into ``container`` by."""
    return container._router


@contextmanager
def body_scope(container: Container) -> Iterator[None]:
    """The scope of the body of ``open_container``: the root's failure cancels it."""
    with trio.CancelScope() as scope:
        container._body_scope = scope
        try:
            yield
        finally:
            container._body_scope = None


async def close(container: Container) -> None:
    """Stop every agent, then the nodes this container started."""
    await container.stop()
    for node in container._nodes:
        await node.stop()


def mark_closed(container: Container) -> None:
    """No agent may be spawned any more."""
    container._registry.closed = True


def failure(container: Container) -> BaseException | None:
    """Why the root supervisor gave up, if it did."""
    return container._failure


def adopt(container: Container, node: Stoppable, background: Callable[[], Any]) -> None:
    """Stop ``node`` with ``container``, and run ``background()`` in its nursery."""
    container._nodes.append(node)
    container._nursery.start_soon(background)
