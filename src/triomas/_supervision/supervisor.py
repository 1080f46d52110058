"""``Supervisor`` and ``DynamicSupervisor``: agents that start children and keep them running."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, get_args

import attrs

from .._agent.agent import Agent
from .._agent.handlers import on
from .._messages.envelope import Envelope
from .._messages.errors import ChildSpecError, SupervisorStartError
from .._messages.events import Shutdown
from .._messages.message import message
from .._messages.ref import AgentRef
from .spec import AutoShutdown, Backoff, ChildSpec, Decider, Strategy

_STRATEGIES: tuple[str, ...] = get_args(Strategy)
_AUTO: tuple[str, ...] = get_args(AutoShutdown)


class Supervisor(Agent):
    """Starts its children in order and restarts them by its strategy.

    ``children`` are started one after another in list order during ``setup()``:
    each child's ``setup()`` finishes (its init-ack) before the next starts, so
    a child may address the ones before it by name. If one fails to start, the
    ones already started are stopped in reverse order and ``setup()`` raises
    :exc:`SupervisorStartError`; a first start is never retried.

    ``strategy``: ``"one_for_one"`` restarts only the child that ended;
    ``"one_for_all"`` stops the others in reverse start order and restarts all;
    ``"rest_for_one"`` does that for the children after the one that ended.
    More than ``max_restarts`` restarts within ``period`` clock seconds (an
    inclusive sliding window, as in OTP) make the supervisor stop its children
    and fail with :exc:`SupervisorEscalation`, for its own supervisor to handle.
    With ``backoff``, restarts wait growing delays and more than
    ``backoff.max_in_row`` consecutive failures of a child escalate instead.
    ``decider(child, exc)`` may turn an exception into a :class:`Directive`.
    ``auto_shutdown`` stops the supervisor when any, or all, of its
    ``significant`` children have ended for good.

    Subclasses that override ``setup()`` must ``await super().setup()``.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 1,
        period: float = 5.0,
        backoff: Backoff | None = None,
        auto_shutdown: AutoShutdown = "never",
        decider: Decider | None = None,
    ) -> None:
        if strategy not in _STRATEGIES:
            raise ChildSpecError("strategy", f"must be one of {', '.join(_STRATEGIES)}")
        if auto_shutdown not in _AUTO:
            raise ChildSpecError("auto_shutdown", f"must be one of {', '.join(_AUTO)}")
        if not (isinstance(max_restarts, int) and max_restarts >= 0):
            raise ChildSpecError("max_restarts", "must be a non-negative integer")
        if not period > 0:
            raise ChildSpecError("period", "must be a positive number of seconds")
        specs = [spec.validated() for spec in children]
        seen: set[str] = set()
        for spec in specs:
            if spec.id in seen:
                raise ChildSpecError("id", f"duplicate child id {spec.id!r}")
            seen.add(spec.id)
            if spec.significant and auto_shutdown == "never":
                raise ChildSpecError(
                    "significant", f"child {spec.id!r} is significant but auto_shutdown is 'never'"
                )
        self.specs: tuple[ChildSpec, ...] = tuple(specs)
        """The validated child specifications, in start order."""
        self._ctx.supervise(
            strategy, max_restarts, period, backoff, auto_shutdown, decider, self._dynamic
        )

    async def setup(self) -> None:
        """Start the children in order, each after the previous one's init-ack."""
        for spec in self.specs:
            await self._start(spec, spec.id, spec.args, spec.kwargs)

    async def _start(
        self, spec: ChildSpec, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AgentRef:
        ctx = self._ctx
        try:
            return await ctx.start_child(
                spec.cls, args, kwargs, name, spec.options(), spec.start_timeout
            )
        except Exception as exc:
            if not self._dynamic:
                await ctx.stop_children(Shutdown("start failed"))
            raise SupervisorStartError(name) from exc

    _dynamic = False
    _default_shutdown = math.inf
    _supervises = True

    @property
    def restarts(self) -> list[float]:
        """Clock times of this incarnation's restarts within the last ``period`` seconds."""
        return self._ctx.restarts()


@message(tag="triomas.StartChild")
class StartChild:
    """Ask a :class:`DynamicSupervisor` to start a child, from anywhere (another
    container too): ``args`` and ``kwargs`` are added to its template's, and the
    answer is the new child's reference (see :meth:`DynamicSupervisor.start_child`)."""

    args: list[Any] = attrs.field(factory=list)
    kwargs: dict[str, Any] = attrs.field(factory=dict)


@message(tag="triomas.TerminateChild")
class TerminateChild:
    """Ask a :class:`DynamicSupervisor` to stop one of its children for good; the
    answer is None, or the error if ``child`` is not one of its children."""

    child: AgentRef


class DynamicSupervisor(Supervisor):
    """Supervises any number of children made from one template (OTP's simple_one_for_one).

    :meth:`start_child` adds one and waits for its init-ack; :meth:`terminate_child`
    stops one. Children are restarted one for one, with the same arguments, and
    share the supervisor's intensity. When the supervisor stops, its children
    are stopped all at once under one shared deadline (their ``shutdown``).
    """

    _dynamic = True

    def __init__(
        self,
        template: ChildSpec,
        *,
        max_restarts: int = 1,
        period: float = 5.0,
        backoff: Backoff | None = None,
        decider: Decider | None = None,
    ) -> None:
        super().__init__(
            (), max_restarts=max_restarts, period=period, backoff=backoff, decider=decider
        )
        self.template = template.validated()
        """The validated template; its ``id`` is the prefix of the children's names."""
        self._made = 0

    async def start_child(self, *args: Any, **kwargs: Any) -> AgentRef:
        """Start a child named ``<template id>-<n>``; ``args`` and ``kwargs`` are added
        to the template's. Raises :exc:`SupervisorStartError` if its ``setup()`` fails."""
        template = self.template
        self._made += 1
        return await self._start(
            template,
            f"{template.id}-{self._made}",
            template.args + args,
            {**template.kwargs, **kwargs},
        )

    async def terminate_child(self, ref: AgentRef) -> None:
        """Stop one child for good, under its shutdown policy."""
        if await self._ctx.stop_child(ref, Shutdown("terminated")):
            return
        raise LookupError(f"{ref} is not a child of {self.name}")

    # By message, a child that cannot start or a ref that is no child is the asker's
    # error: the supervisor answers it and goes on (raising would fail the supervisor,
    # and with it every child).

    @on(StartChild)
    async def _start_child_message(self, msg: StartChild, env: Envelope) -> AgentRef | None:
        try:
            return await self.start_child(*msg.args, **msg.kwargs)
        except (SupervisorStartError, ChildSpecError, TypeError) as exc:
            self.reply_error(env, exc)
            return None

    @on(TerminateChild)
    async def _terminate_child_message(self, msg: TerminateChild, env: Envelope) -> None:
        try:
            await self.terminate_child(msg.child)
        except LookupError as exc:
            self.reply_error(env, exc)
