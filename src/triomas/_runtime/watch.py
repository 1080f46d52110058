"""Monitors and links: how agents learn that other agents stopped for good."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from .._messages.envelope import Envelope
from .._messages.errors import LinkedActorFailed
from .._messages.events import (
    Down,
    Exit,
    ExitReason,
    Failure,
    Fatal,
    MonitorRef,
    NoConnection,
    NoProc,
)
from .._messages.ref import AgentRef

if TYPE_CHECKING:
    from .cell import Cell


def propagates(reason: ExitReason) -> bool:
    """Whether an exit travels along links: failures do, normal stops and shutdowns not."""
    return isinstance(reason, (Failure, Fatal, NoProc, NoConnection))


@final
class Far:
    """An agent of another container, where this container's monitors and links keep
    a cell: a monitor's target (in ``watching``), a monitor's watcher (in ``watchers``)
    or a linked agent (in ``links``). ``ties`` is the container's record of its ties
    with other containers (``distant.DistantTies``), told when this one goes."""

    __slots__ = ("container", "id", "name", "ref", "ties")

    def __init__(self, ties: Any, container: str, name: str, ref: AgentRef, id: int = 0) -> None:
        self.ties = ties
        self.container = container
        self.name = name
        self.ref = ref
        self.id = id

    def __repr__(self) -> str:
        return f"<Far {self.container}/{self.name}>"


def send_to(cell: Cell, sender: AgentRef, body: object) -> None:
    """Put a system message (``Down``, ``Exit``) in ``cell``'s mailbox."""
    env = Envelope(body, sender, cell.ref, type(body).__name__, sent_at=cell.engine.now())
    cell.engine.deliver_system(cell, env)


def monitor(watcher: Cell, target: Cell | None, ref: AgentRef, monitor_id: int) -> MonitorRef:
    """Watch ``target`` for ``watcher``; a target already gone gets ``Down(noproc)`` at once."""
    mref = MonitorRef(monitor_id, target.ref if target is not None else ref)
    if target is None or not target.alive:
        send_to(watcher, mref.target, Down(mref, mref.target, NoProc()))
        return mref
    if target.watchers is None:
        target.watchers = {}
    target.watchers[mref] = watcher
    if watcher.watching is None:
        watcher.watching = {}
    watcher.watching[mref] = target
    return mref


def demonitor(watcher: Cell, mref: MonitorRef, flush: bool) -> bool:
    """Stop watching; with ``flush``, also drop a ``Down`` of it already on its way."""
    target = watcher.watching.pop(mref, None) if watcher.watching else None
    if isinstance(target, Far):
        target.ties.forget_monitor(target)
    elif target is not None and target.watchers:
        target.watchers.pop(mref, None)
    if flush:
        watcher.drop_waiting(lambda env: isinstance(env.body, Down) and env.body.monitor == mref)
    return target is not None


def link(a: Cell, b: Cell | None, ref: AgentRef) -> None:
    """Link two agents both ways; linking to an agent already gone is its abnormal exit."""
    if b is None or not b.alive:
        linked_exit(a, ref, NoProc(), raise_now=True)
        return
    if a is b:
        return
    for one, other in ((a, b), (b, a)):
        if one.links is None:
            one.links = {}
        one.links[other] = None


def unlink(a: Cell, b: Cell | None) -> None:
    """Remove the link between two agents, if there is one."""
    if b is not None:
        if a.links:
            a.links.pop(b, None)
        if b.links:
            b.links.pop(a, None)


def linked_exit(cell: Cell, peer: AgentRef, reason: ExitReason, *, raise_now: bool) -> None:
    """A linked peer ended abnormally: an ``Exit`` message if trapping, else a failure.

    ``raise_now`` is for the agent's own call of ``link``: it raises there, so the
    failure comes from the agent's code like any other exception.
    """
    if cell.agent.trap_exits:
        send_to(cell, peer, Exit(peer, reason))
        return
    error = LinkedActorFailed(peer, reason)
    if raise_now:
        raise error
    cell.crash(error, interrupt=True)


def incarnation_ended(cell: Cell, reason: ExitReason) -> None:
    """An incarnation of ``cell`` ended: its own monitors go, and so do its links.

    A failure travels along the links first. Monitors on ``cell`` stay: ``Down``
    comes only when it stops for good.
    """
    if cell.ties is None:  # never watched or linked: the common case, at a glance
        return
    if cell.watching:
        for mref, target in cell.watching.items():
            if isinstance(target, Far):
                target.ties.forget_monitor(target)
            elif target.watchers:
                target.watchers.pop(mref, None)
        cell.watching = None
    if cell.links:
        links, cell.links = cell.links, None
        for peer in links:
            if isinstance(peer, Far):
                peer.ties.exited(cell, peer, reason)
                continue
            if peer.links:
                peer.links.pop(cell, None)
            if propagates(reason) and peer.alive and peer.exit_reason is None:
                linked_exit(peer, cell.ref, reason, raise_now=False)


def stopped_for_good(cell: Cell, reason: ExitReason) -> None:
    """Send ``Down`` to every agent that monitors ``cell``."""
    if cell.ties is not None and cell.watchers:
        watchers, cell.watchers = cell.watchers, None
        for mref, watcher in watchers.items():
            if isinstance(watcher, Far):
                watcher.ties.down(watcher, cell, reason)
                continue
            if watcher.watching:
                watcher.watching.pop(mref, None)
            send_to(watcher, cell.ref, Down(mref, cell.ref, reason))
