"""The probe: an agent a test owns, to receive what the agents under test send, and to
say what must (and must not) arrive, within a budget of clock time (Akka's TestProbe)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, final

from .._agent.agent import Agent
from .._messages.events import Down
from .._time.clock import RealClock
from .tracing import recv_record

if TYPE_CHECKING:
    from .._messages.envelope import Envelope
    from .._messages.ref import AgentRef
    from .container import Container

Expected = type | Callable[[Any], bool] | object
"""What an expectation matches a message body against: a class (an instance of it), a
predicate (true for it), or a value (equal to it)."""

TIME_FACTOR = 1.0
"""Real-time budgets are multiplied by this (``--triomas-time-factor``, for slow CI)."""


def _matches(expected: Expected, body: Any) -> bool:
    if isinstance(expected, type):
        return isinstance(body, expected)
    if callable(expected) and not hasattr(expected, "__attrs_attrs__"):
        return bool(expected(body))
    return bool(body == expected)


def _show(expected: Expected) -> str:
    if isinstance(expected, type):
        return f"a {expected.__qualname__}"
    if callable(expected) and not hasattr(expected, "__attrs_attrs__"):
        return f"a message for which {getattr(expected, '__qualname__', expected)!s} holds"
    return repr(expected)


@final
class Probe(Agent):
    """An agent for tests: everything sent to it is kept, in order, in :attr:`received`;
    the ``expect`` methods wait for what should come and fail the test (with
    :exc:`AssertionError`, listing what did arrive) when it does not.

    Make one with ``await container.spawn_probe("name")``. Every wait is clock time
    on the container's clock: in virtual time ``expect_no_message(within=3600)`` costs
    microseconds and is exact; in real time budgets are multiplied by
    :data:`TIME_FACTOR`. The waits drive the container (``container.run(until=...)``),
    so call them from the test, not from an agent.
    """

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        """Every envelope that arrived, in order of arrival."""
        self._read = 0  # how many of them an expectation has taken
        self._budget: float | None = None  # the deadline of an enclosing within()

    def update(self) -> None:
        """Keep whatever arrived (in the trace, as ``recv``, like any agent's mail)."""
        while self.messages:
            env = self.receive()
            self.received.append(env)
            trace = self.container.trace
            if trace is not None:
                trace(recv_record(self.clock.now(), self.name, env))

    # ---- expectations ----------------------------------------------------------------

    @property
    def unread(self) -> list[Envelope]:
        """What arrived and no expectation has taken yet, oldest first."""
        return self.received[self._read :]

    async def expect(self, expected: Expected, *, within: float | None = None) -> Envelope:
        """Wait until a message matching ``expected`` is the next unread one, and take
        it; its envelope. Fails if another message comes first, or none in time."""
        found = await self._next(within)
        if found is None:
            raise AssertionError(
                f"{self.name}: expected {_show(expected)} within {self._said(within)}, "
                f"got nothing{self._history()}"
            )
        if not _matches(expected, found.body):
            raise AssertionError(
                f"{self.name}: expected {_show(expected)}, got {found.body!r} "
                f"from {found.sender}{self._history()}"
            )
        self._read += 1
        return found

    async def expect_no_message(self, *, within: float) -> None:
        """Fail if any message arrives within ``within`` seconds of clock time."""
        found = await self._next(within, exact=True)
        if found is not None:
            raise AssertionError(
                f"{self.name}: expected no message within {self._said(within)}, got "
                f"{found.body!r} from {found.sender} at t={found.sent_at}"
            )

    async def expect_all(
        self, expected: Sequence[Expected], *, within: float | None = None, ordered: bool = False
    ) -> list[Envelope]:
        """Wait for one message matching each of ``expected`` (in that order if
        ``ordered``, else in any order); their envelopes, in order of arrival. Fails
        on a message that matches none of those still awaited."""
        waiting = list(expected)
        got: list[Envelope] = []
        async with self.within(within):
            while waiting:
                found = await self._next(None)
                if found is None:
                    raise AssertionError(
                        f"{self.name}: still expected {', '.join(map(_show, waiting))} within "
                        f"{self._said(within)}; got {[e.body for e in got]!r}{self._history()}"
                    )
                candidates = waiting[:1] if ordered else waiting
                hit = next((e for e in candidates if _matches(e, found.body)), _NONE)
                if hit is _NONE:
                    raise AssertionError(
                        f"{self.name}: got {found.body!r} from {found.sender}, which is not "
                        f"{' or '.join(map(_show, candidates))}{self._history()}"
                    )
                waiting.remove(hit)
                got.append(found)
                self._read += 1
        return got

    @asynccontextmanager
    async def within(self, seconds: float | None) -> AsyncIterator[None]:
        """Share one budget of ``seconds`` among the expectations inside (Akka's
        ``within``); an expectation's own ``within`` can only shorten it."""
        outer = self._budget
        if seconds is not None:
            deadline = self.clock.now() + self._scaled(seconds)
            self._budget = deadline if outer is None else min(outer, deadline)
        try:
            yield
        finally:
            self._budget = outer

    # ---- answering and watching ------------------------------------------------------

    def watch(self, ref: AgentRef | str) -> None:
        """Monitor ``ref``: its end arrives here as a :class:`Down` (see :meth:`expect_down`)."""
        self.monitor(ref)

    async def expect_down(self, ref: AgentRef | str, *, within: float | None = None) -> Down:
        """Wait for the :class:`Down` of an agent :meth:`watch` ed; fails otherwise."""
        name = ref if isinstance(ref, str) else ref.name
        env = await self.expect(
            lambda body: isinstance(body, Down) and body.ref.name == name, within=within
        )
        down: Down = env.body
        return down

    # ---- waiting -----------------------------------------------------------------------

    def _scaled(self, seconds: float) -> float:
        return seconds * TIME_FACTOR if isinstance(self.clock, RealClock) else seconds

    def _said(self, within: float | None) -> str:
        return "the budget" if within is None else f"{within} s"

    def _history(self) -> str:
        if not self.received:
            return " (nothing arrived at all)"
        lines = "".join(
            f"\n  {'  ' if i >= self._read else 'x '}t={e.sent_at}: {e.body!r} from {e.sender}"
            for i, e in enumerate(self.received[-20:], start=max(0, len(self.received) - 20))
        )
        return f"; what arrived (x: taken):{lines}"

    async def _next(self, within: float | None, *, exact: bool = False) -> Envelope | None:
        """The next unread envelope, waiting for it until the deadline; None if none came."""
        now = self.clock.now()
        if within is None and self._budget is None:
            within = DEFAULT_WITHIN
        deadline = math.inf if within is None else now + self._scaled(within)
        if self._budget is not None:
            deadline = min(deadline, self._budget)
        container: Container = self.container

        def arrived() -> bool:
            self.update()  # what waits in the mailbox counts as arrived
            return len(self.received) > self._read

        if not arrived() and deadline > now:
            # In virtual time an idle simulation can send nothing more: stop there (but
            # not when the silence itself is what is expected: it lasts exactly). In real
            # time a quiet container may still hear from the network.
            virtual = not isinstance(self.clock, RealClock)
            await container.run(
                seconds=deadline - now, until=arrived, until_idle=virtual and not exact
            )
        arrived()
        return self.received[self._read] if len(self.received) > self._read else None


DEFAULT_WITHIN = 3.0
"""The budget of an expectation given none, in clock seconds."""

_NONE = object()
