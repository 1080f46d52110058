"""Monitors and links that cross to other containers.

Each side keeps its half, per peer container: the monitors its agents hold on the
peer's agents, the peer's monitors on its own agents, and the links between the two.
The halves talk by ties (:class:`~.ports.TieOp`) over the network. They last as long
as the connection: when it ends, or the peer is declared down, both sides drop every
tie with it, and this side's monitors get ``Down(noconnection)`` and its links break
with that reason, as in Erlang distribution. Nothing here waits for the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from .._messages.errors import ProtocolError
from .._messages.events import Down, ExitReason, MonitorRef, NoConnection, NoProc
from .._messages.ref import AgentRef
from .ports import TieOp
from .watch import Far, linked_exit, propagates, send_to

if TYPE_CHECKING:
    from .cell import Cell
    from .router import Router

__all__ = ["MAX_TIES", "DistantTies"]

MAX_TIES = 100_000
"""The most monitors and links one peer container may hold on this one's agents."""


@final
class _PeerTies:
    """The ties with one peer container."""

    __slots__ = ("links", "monitors", "watched")

    def __init__(self) -> None:
        # Our monitors on its agents: our monitor id -> the watcher and its Far target.
        self.monitors: dict[int, tuple[Cell, Far, MonitorRef]] = {}
        # Its monitors on our agents: its monitor id -> our target and the Far watcher.
        self.watched: dict[int, tuple[Cell, Far]] = {}
        # Links: (our agent's name, its agent's name) -> our cell and the Far peer.
        self.links: dict[tuple[str, str], tuple[Cell, Far]] = {}


@final
class DistantTies:
    """One container's monitors and links with agents of other containers."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.peers: dict[str, _PeerTies] = {}

    def _send(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> str | None:
        remote = self.router.remote
        if remote is None:
            return None
        return remote.tie(container, op, id, ours, theirs, reason)

    def _peer(self, container: str) -> _PeerTies:
        peer = self.peers.get(container)
        if peer is None:
            peer = self.peers[container] = _PeerTies()
        return peer

    def _release(self, container: str) -> None:
        peer = self.peers.get(container)
        if peer is not None and not (peer.monitors or peer.watched or peer.links):
            del self.peers[container]

    # ---- this container's agents act ------------------------------------------------------

    def monitor(self, watcher: Cell, ref: AgentRef, id: int) -> MonitorRef:
        """``watcher`` monitors ``ref``, an agent of another container."""
        mref = MonitorRef(id, ref)
        container = self._send(ref.container, TieOp.MONITOR, id, watcher.name, ref.name, None)
        if container is None:
            send_to(watcher, ref, Down(mref, ref, NoConnection("cannot reach the container")))
            return mref
        target = Far(self, container, ref.name, ref, id)
        self._peer(container).monitors[id] = (watcher, target, mref)
        if watcher.watching is None:
            watcher.watching = {}
        watcher.watching[mref] = target
        return mref

    def forget_monitor(self, target: Far) -> None:
        """A monitor on ``target`` went (demonitored, or its watcher's incarnation ended)."""
        peer = self.peers.get(target.container)
        if peer is not None and peer.monitors.pop(target.id, None) is not None:
            self._release(target.container)
            self._send(target.container, TieOp.DEMONITOR, target.id, "", target.name, None)

    def link(self, cell: Cell, ref: AgentRef) -> None:
        """Link ``cell`` and ``ref``, an agent of another container."""
        container = self._send(ref.container, TieOp.LINK, 0, cell.name, ref.name, None)
        if container is None:
            linked_exit(cell, ref, NoConnection("cannot reach the container"), raise_now=True)
            return
        key = (cell.name, ref.name)
        peer = self._peer(container)
        if key in peer.links:
            return
        far = Far(self, container, ref.name, ref)
        peer.links[key] = (cell, far)
        if cell.links is None:
            cell.links = {}
        cell.links[far] = None

    def unlink(self, cell: Cell, ref: AgentRef) -> None:
        """Remove the link between ``cell`` and ``ref``, if there is one."""
        for container in (ref.container, *self.peers):
            peer = self.peers.get(container)
            found = None if peer is None else peer.links.pop((cell.name, ref.name), None)
            if found is not None:
                if cell.links:
                    cell.links.pop(found[1], None)
                self._release(container)
                self._send(container, TieOp.UNLINK, 0, cell.name, ref.name, None)
                return

    def exited(self, cell: Cell, far: Far, reason: ExitReason) -> None:
        """An incarnation of ``cell``, linked to ``far``, ended: tell its container."""
        peer = self.peers.get(far.container)
        if peer is not None and peer.links.pop((cell.name, far.name), None) is not None:
            self._release(far.container)
            self._send(far.container, TieOp.EXIT, 0, cell.name, far.name, reason)

    def down(self, watcher: Far, cell: Cell, reason: ExitReason) -> None:
        """``cell``, monitored by ``watcher`` of another container, stopped for good."""
        peer = self.peers.get(watcher.container)
        if peer is not None and peer.watched.pop(watcher.id, None) is not None:
            self._release(watcher.container)
            self._send(watcher.container, TieOp.DOWN, watcher.id, cell.name, watcher.name, reason)

    # ---- the network reports --------------------------------------------------------------

    def arrive(
        self, container: str, op: TieOp, id: int, theirs: str, ours: str, reason: ExitReason | None
    ) -> None:
        """A tie from ``container``: ``theirs`` is its agent, ``ours`` one of ours."""
        if op is TieOp.DOWN:
            peer = self.peers.get(container)
            found = None if peer is None else peer.monitors.pop(id, None)
            if found is not None:
                watcher, _target, mref = found
                self._release(container)
                if watcher.watching:
                    watcher.watching.pop(mref, None)
                send_to(watcher, mref.target, Down(mref, mref.target, reason or NoProc()))
        elif op is TieOp.MONITOR:
            self._watched(container, id, theirs, ours)
        elif op is TieOp.DEMONITOR:
            peer = self.peers.get(container)
            gone = None if peer is None else peer.watched.pop(id, None)
            if gone is not None:
                cell, far = gone
                if cell.watchers:
                    cell.watchers.pop((container, id), None)
                self._release(container)
        elif op is TieOp.LINK:
            self._linked(container, theirs, ours)
        elif op is TieOp.UNLINK or op is TieOp.EXIT:
            peer = self.peers.get(container)
            dropped = None if peer is None else peer.links.pop((ours, theirs), None)
            if dropped is None:
                return  # ours ended first, and said so: the link was gone already
            cell, far = dropped
            self._release(container)
            if cell.links:
                cell.links.pop(far, None)
            if (
                op is TieOp.EXIT
                and reason is not None
                and propagates(reason)
                and cell.alive
                and cell.exit_reason is None
            ):
                linked_exit(cell, far.ref, reason, raise_now=False)

    def _check_room(self, container: str, peer: _PeerTies) -> None:
        if len(peer.watched) + len(peer.links) >= MAX_TIES:
            raise ProtocolError(f"{container} holds more than {MAX_TIES} monitors and links here")

    def _watched(self, container: str, id: int, theirs: str, ours: str) -> None:
        cell = self.router.registry.cells.get(ours)
        if cell is None or not cell.alive:
            self._send(container, TieOp.DOWN, id, ours, theirs, NoProc())
            return
        peer = self._peer(container)
        self._check_room(container, peer)
        if id in peer.watched:
            return
        far = Far(self, container, theirs, AgentRef(container, theirs), id)
        peer.watched[id] = (cell, far)
        if cell.watchers is None:
            cell.watchers = {}
        cell.watchers[(container, id)] = far

    def _linked(self, container: str, theirs: str, ours: str) -> None:
        cell = self.router.registry.cells.get(ours)
        if cell is None or not cell.alive:
            self._send(container, TieOp.EXIT, 0, ours, theirs, NoProc())
            return
        peer = self._peer(container)
        key = (ours, theirs)
        if key in peer.links:
            return
        self._check_room(container, peer)
        far = Far(self, container, theirs, AgentRef(container, theirs))
        peer.links[key] = (cell, far)
        if cell.links is None:
            cell.links = {}
        cell.links[far] = None

    def peer_down(self, container: str, detail: str) -> None:
        """Every tie with ``container`` is gone (see the module's docstring)."""
        peer = self.peers.pop(container, None)
        if peer is None:
            return
        reason = NoConnection(detail)
        for watcher, _target, mref in peer.monitors.values():
            if watcher.watching:
                watcher.watching.pop(mref, None)
            send_to(watcher, mref.target, Down(mref, mref.target, reason))
        for id, (cell, _far) in peer.watched.items():
            if cell.watchers:
                cell.watchers.pop((container, id), None)
        for cell, far in peer.links.values():
            if cell.links:
                cell.links.pop(far, None)
            if cell.alive and cell.exit_reason is None:
                linked_exit(cell, far.ref, reason, raise_now=False)

    def renamed(self, old: str, new: str) -> None:
        """The container known as ``old`` goes by ``new``: its ties move there."""
        peer = self.peers.pop(old, None)
        if peer is None:
            return
        into = self._peer(new)
        for _watcher, target, _mref in peer.monitors.values():
            target.container = new
        for _cell, far in (*peer.watched.values(), *peer.links.values()):
            far.container = new
        into.monitors.update(peer.monitors)
        into.watched.update(peer.watched)
        into.links.update(peer.links)
        for id, (cell, far) in peer.watched.items():
            if cell.watchers and cell.watchers.pop((old, id), None) is not None:
                cell.watchers[(new, id)] = far
