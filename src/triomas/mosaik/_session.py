"""mosaik's calls on one container: ``create``, ``setup_done``, ``step``, ``get_data``, the
extra methods, and the simulator's own requests to mosaik made by agents during a call.

Time: one mosaik tick is ``time_resolution`` clock seconds. A ``step(t, ...)``
advances the container's :class:`ExternalClock` to ``t``: every event due by ``t``
happens (alarms due at ``t`` included, and those set meanwhile for ``t``), then the
step's inputs arrive, at ``t``, as one :class:`Inputs` message per entity, and the
container runs until nothing more is due by ``t``. The answer is the next step:
``t + step_size`` (time-based: answered at once, the run follows, see ``moved_on``), or
the tick of the next event that keeps the container busy
(``ExternalClock.next_event()``; ``ignore_if_idle`` alarms do not count), or None.

The run never *goes idle* in triomas' sense between steps (it stops at the horizon
instead), so ``ignore_if_idle`` alarms are kept: they fire when mosaik's time passes
them, they just never make mosaik step the simulator.
"""

from __future__ import annotations

import logging
import math
import traceback
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, final

from .._messages.errors import ProtocolError, RemoteError, TriomasError
from .._messages.events import AgentStopped, ChildExited, Failure, SystemEvent
from .._runtime.container import Container, attach_network, inbound
from .._time.clock import ExternalClock
from .._time.future import Future
from ._entities import AgentEntity, Entity, PostEntity
from ._model import POST_MODEL
from ._post import Post
from ._wire import failure_content

if TYPE_CHECKING:
    from ._simulator import Simulator

log = logging.getLogger("triomas.mosaik")

SESSIONS: weakref.WeakKeyDictionary[Container, Session] = weakref.WeakKeyDictionary()
"""The session driving each container that mosaik drives (for ``mosaik_of``)."""


class Requester(Protocol):
    """How requests reach mosaik: a connection, or mosaik's own loop in-process."""

    def request(
        self,
        func: str,
        args: list[Any],
        kwargs: dict[str, Any],
        done: Callable[[bool, Any], object],
    ) -> None:
        """Queue ``func(*args, **kwargs)`` for mosaik (agents call this from inside the
        simulation, which cannot await); ``done(ok, value)`` gets the answer (``value``
        is the FAILURE's content when not ``ok``)."""
        ...

    async def wait(self, until: Callable[[], bool]) -> None:
        """Send what is queued, then wait for answers until ``until()`` holds."""
        ...


@final
class AgentCrashed(TriomasError):
    """An agent crashed during a mosaik call, which fails with this error (its
    ``__cause__`` is the agent's exception); mosaik then ends the World."""

    def __init__(self, agent: str, time: float, error: BaseException) -> None:
        super().__init__(f"agent {agent} crashed at t={time:g}: {type(error).__name__}: {error}")
        self.agent = agent
        self.time = time
        self.error = error
        self.__cause__ = error


def failure_of(exc: BaseException) -> list[str]:
    """The content of the FAILURE frame that reports ``exc``: type, message, traceback
    (an agent's crash is reported as its own exception, with its traceback)."""
    if isinstance(exc, AgentCrashed):
        error = exc.error
        return [type(error).__name__, str(exc), "".join(traceback.format_exception(error))]
    return [type(exc).__name__, str(exc), "".join(traceback.format_exception(exc))]


def _noop() -> None:
    """The timer that holds a run until the clock reaches a step's time."""


@final
class Session:
    """mosaik's view of one container."""

    def __init__(
        self,
        sim: Simulator,
        container: Container,
        clock: ExternalClock,
        sid: str,
        resolution: float,
        step_size: int | None,
        requester: Requester,
        overlap: bool = True,
    ) -> None:
        self.sim = sim
        self.overlap = overlap and sim.run_ahead
        self.container = container
        self.clock = clock
        self.sid = sid
        self.resolution = resolution
        self.step_size = step_size
        self.requester = requester
        self.entities: dict[str, Entity] = {}
        self._counts: dict[str, int] = {}
        self._every_step: list[Entity] = []
        self.post: Post | None = None
        self.step_tick = 0
        self.output_tick = 0
        self._reached = 0  # the last tick run to, ahead of the step's perhaps
        self._deferred = False  # a step's run waits for its answer to be sent
        self._handover: list[tuple[Entity, object]] | None = None  # see _halt
        self._failure: Exception | None = None  # of moving on: for mosaik's next call
        self._watched: list[tuple[Entity, str]] | None = None
        self._crashes: list[AgentCrashed] = []
        self._outstanding: dict[int, Future] = {}
        self._answers: dict[int, tuple[bool, Any]] = {}
        self._seq = 0
        container.on_event(self._on_event)
        SESSIONS[container] = self

    # ---- mosaik's calls ------------------------------------------------------------------

    async def call(self, func: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Answer mosaik's call ``func(*args, **kwargs)``."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        if func == "step":
            return await self.step(*args, **kwargs)
        if func == "get_data":
            return self.get_data(*args, **kwargs)
        if func == "create":
            return await self.create(*args, **kwargs)
        if func == "setup_done":
            return None
        if func in self.sim.extra_methods:
            result = self.sim.extra_methods[func](self.container, *args, **kwargs)
            return await result if isinstance(result, Awaitable) else result
        if func == "init":
            raise ValueError("init was called twice")
        raise AttributeError(f"the simulator has no method {func!r}")

    async def create(self, num: int, model: str, **params: Any) -> list[dict[str, str]]:
        """Spawn ``num`` agents of ``model`` (``<model>_<n>``); their setups run now."""
        if type(num) is not int or num < 0:
            raise ValueError(f"create needs a number of entities, not {num!r}")
        if model == POST_MODEL and self.sim.post:
            return [self._create_post(num, params)]
        spec = self.sim.model(model)
        unknown = sorted(set(params) - set(spec.param_names))
        if unknown:
            raise TypeError(f"model {model} takes no parameters {unknown}")
        first = self._counts.get(model, 0)
        eids = [f"{model}_{n}" for n in range(first, first + num)]
        taken = [eid for eid in eids if self.container.lookup(eid) is not None]
        if taken:  # before any is spawned: a create that fails makes nothing
            raise ValueError(f"agents called {taken} exist already (spawned by on_init?)")
        self._counts[model] = first + num
        created = []
        for eid in eids:
            await self.container.spawn(spec.agent, name=eid, **params)
            entity = AgentEntity(self.container, eid, spec, self.sim.kind)
            self.entities[eid] = entity
            if spec.every_step:
                self._every_step.append(entity)
            created.append({"eid": eid, "type": model})
        await self.run()
        return created

    def _create_post(self, num: int, params: dict[str, Any]) -> dict[str, str]:
        if num != 1 or params or self.post is not None:
            raise ValueError("a container has one post: create it once, as Post()")
        self.post = Post(inbound(self.container))
        attach_network(self.container, self.post)
        self.entities[POST_MODEL] = PostEntity(self.post, POST_MODEL, self.sim.kind)
        return {"eid": POST_MODEL, "type": POST_MODEL}

    async def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int | None:
        """Run the container to ``time`` with ``inputs``; the next step (see the module)."""
        if type(time) is not int or time < 0 or type(max_advance) is not int:
            raise ValueError(f"step needs integer ticks, not time={time!r}, {max_advance=!r}")
        at = self.seconds(time)
        if at < self.clock.now():
            raise ValueError(
                f"mosaik steps at tick {time} ({at:g} s), but the container is at "
                f"{self.clock.now():g} s already"
            )
        if not isinstance(inputs, dict):
            raise ValueError("the inputs of a step are {eid: {attr: {source: value}}}")
        handovers = [(self._entity(eid), values) for eid, values in inputs.items()]
        prepared = [(entity, entity.prepare(values, time, at)) for entity, values in handovers]
        for entity in self._every_step:
            if entity.eid not in inputs:
                empty = entity.empty(time, at)
                if empty is not None:
                    prepared.append((entity, empty))
        self.step_tick = self.output_tick = self._reached = time
        before = self._snapshot() if self._may_run_ahead() else None

        # The inputs are handed over once every event due by the step's time has
        # happened (those set meanwhile for that time too): by _halt, in the same run.
        self._handover = prepared
        clock = self.clock
        if not at == clock.now() == clock.target:  # else the clock is there already
            # the scheduler's own timer: the clock's would settle trio before the next jump
            clock.scheduler().call_at(at, _noop, True)
            clock.advance_to(at)
        if self.sim.kind == "time-based":
            if self.overlap:
                self._deferred = True  # the run comes after the answer: see moved_on
            else:
                await self.run()
            return self._next_step()
        await self.run()
        if before is not None and self._snapshot() == before:
            await self._run_ahead(max_advance, before)
        return self._next_step()

    async def moved_on(self, func: str) -> None:
        """After mosaik's call ``func`` was answered: a time-based simulator runs its
        step off the World's critical path.

        Its answer to ``step`` is fixed (``t + step_size``), so it answers at once and
        runs the step now, while mosaik takes the answer in and asks for the outputs
        (``get_data`` is read after the run). The same events in the same order; a
        crash on the way fails mosaik's next call.
        """
        if func != "step" or not self._deferred:
            return
        self._deferred = False
        try:
            await self.run()
        except ProtocolError:
            raise
        except Exception as exc:
            self._failure = exc

    def _may_run_ahead(self) -> bool:
        # A persistent output must have been reported once before the simulator runs
        # ahead: mosaik keeps the last one reported for whoever reads it meanwhile.
        if not self.sim.run_ahead or self.sim.kind == "time-based":
            return False
        if self._watched is not None:
            return True
        return all(
            not entity.persistent(attr)
            for entity in self.entities.values()
            for attr in entity.outputs
        )

    async def _run_ahead(self, max_advance: int, before: list[Any]) -> None:
        # mosaik promises no input before max_advance + 1: the container's own events up
        # to there may run now, until one changes an output (reported at its tick).
        while True:
            upcoming = self.clock.next_event()
            if upcoming is None:
                return
            tick = self.tick_at(upcoming)
            if tick > max_advance:
                return
            self.clock.advance_to(self.seconds(tick))
            await self.run()
            self._reached = tick
            if self._snapshot() != before:
                self.output_tick = tick
                return

    def _next_step(self) -> int | None:
        if self.sim.kind == "time-based":
            if self.step_size is None:
                raise ValueError("a time-based simulator needs a step_size")
            return self.step_tick + self.step_size
        upcoming = self.clock.next_event()
        if upcoming is None:
            return None
        return max(self.tick_at(upcoming), self._reached + 1)

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, Any]:
        """The requested outputs of the entities (events only when they happened)."""
        if not isinstance(outputs, dict):
            raise ValueError("get_data takes {eid: [attr, ...]}")
        watched: list[tuple[Entity, str]] = []
        data: dict[str, Any] = {}
        for eid, attrs in outputs.items():
            entity = self._entity(eid)
            data[eid] = {}
            if not isinstance(attrs, list):
                raise ValueError(f"get_data takes {{eid: [attr, ...]}}, not {eid!r}: {attrs!r}")
            for attr in attrs:
                entity.check(attr)  # all first: reading an event resets it
                watched.append((entity, attr))
        for entity, attr in watched:
            report, value = entity.read(attr)
            if report:
                data[entity.eid][attr] = value
        self._watched = watched
        if self.output_tick != self.step_tick:
            data["time"] = self.output_tick
        return data

    def _snapshot(self) -> list[Any]:
        # The outputs mosaik asked for last (it asks for the same ones every step), or
        # before its first get_data every entity's outputs.
        watched = self._watched
        if watched is None:
            watched = [(e, attr) for e in self.entities.values() for attr in e.outputs]
        return [entity.peek(attr) for entity, attr in watched]

    # ---- running the container -----------------------------------------------------------

    async def run(self) -> None:
        """Run the container until nothing more is due by the clock's target, answering
        the agents' requests to mosaik on the way; raise :exc:`AgentCrashed` for a crash."""
        while True:
            await self.container.run(until=self._halt)
            if self._crashes:
                crash, self._crashes = self._crashes[0], []
                raise crash
            if not self._outstanding:
                return
            await self.requester.wait(self._all_answered)
            # In the order the requests were made, whatever order the answers came in.
            outstanding, self._outstanding = self._outstanding, {}
            answers, self._answers = self._answers, {}
            for seq in sorted(outstanding):
                ok, value = answers[seq]
                if ok:
                    outstanding[seq].set_result(value)
                else:
                    kind, text, tb = failure_content(value)
                    outstanding[seq].set_error(RemoteError(kind, text, "mosaik", tb))

    def _halt(self) -> bool:
        # Checked after every round: stop for a request to mosaik (the world stands
        # still until it is answered), for a crash, or when nothing more is due by the
        # horizon (no "idle" end, which would drop the ignore_if_idle alarms). The
        # first time nothing more is due, a step's inputs go in instead, and the run
        # goes on with them.
        if self._outstanding or self._crashes:
            return True
        upcoming = self.clock.next_event()
        if upcoming is not None and upcoming <= self.clock.target:
            return False
        handover, self._handover = self._handover, None
        if not handover:
            return True
        for entity, item in handover:
            entity.deliver(item)
        return False

    def submit(self, func: str, args: list[Any], kwargs: dict[str, Any]) -> Future:
        """Send a request to mosaik from an agent; the future settles when the run stops
        for it (see :meth:`run`)."""
        fut = Future()
        seq = self._seq
        self._seq += 1
        self.requester.request(func, args, kwargs, lambda ok, value: self._answer(seq, ok, value))
        self._outstanding[seq] = fut
        return fut

    def _answer(self, seq: int, ok: bool, value: Any) -> None:
        self._answers[seq] = (ok, value)

    def _all_answered(self) -> bool:
        return len(self._answers) >= len(self._outstanding)

    def _on_event(self, event: SystemEvent) -> None:
        # "fail": any crash; "supervise": only an entity's agent that stopped for good
        if not isinstance(event, ChildExited | AgentStopped):
            return
        if isinstance(event, ChildExited) and self.sim.on_crash != "fail":
            return
        if isinstance(event, AgentStopped) and event.ref.name not in self.entities:
            return
        if isinstance(event.reason, Failure):
            crash = AgentCrashed(event.ref.name, self.clock.now(), event.reason.exception)
            self._crashes.append(crash)

    # ---- time and names ------------------------------------------------------------------

    def seconds(self, tick: int) -> float:
        """Clock seconds at mosaik tick ``tick``."""
        return tick * self.resolution

    def tick_at(self, seconds: float) -> int:
        """The first tick whose clock time is at or after ``seconds``."""
        tick = math.ceil(seconds / self.resolution)
        if self.seconds(tick) < seconds:  # float rounding, either way
            tick += 1
        elif tick > 0 and self.seconds(tick - 1) >= seconds:
            tick -= 1
        return tick

    def _entity(self, eid: str) -> Entity:
        try:
            return self.entities[eid]
        except (KeyError, TypeError):
            raise LookupError(f"no entity {eid!r} in simulator {self.sid}") from None
