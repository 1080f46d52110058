"""The fast path of a tell with no option: to a live agent of the same container, named
by reference or by name, from an agent or from outside the agents."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, final

from .._messages.envelope import Envelope
from .._messages.ref import AgentRef
from .engine import RunState
from .mailbox import NO_MAIL

if TYPE_CHECKING:
    from .._agent.context import Recipient
    from .cell import Cell
    from .router import Router

_ACTIVE = RunState.ACTIVE


@final
class Outside:
    """Stands for the code outside the agents as the sender of a tell: its container's
    router, and no reference."""

    __slots__ = ("router", "sent")
    ref = None

    def __init__(self, router: Router) -> None:
        self.router = router
        self.sent = 0  # messages sent from outside the agents (ContainerStats.outside_sent)


def tell(self: Cell | Outside, to: Recipient, msg: Any, performative: str | None = None) -> None:
    """A send with no option, from an agent (``self``) or from outside the agents (an
    :class:`Outside`): straight to a live agent of this container named by reference
    or by name, with no resolving and no envelope where none is needed; anything else
    takes the router's general path. A ``performative`` (a BDI agent's speech act) goes
    in the envelope, which is then always made.

    PERF: one function for both senders, and no call inside it on the fast path (live
    fan-out and its by-name and from-outside rows in benchmarks/run.py).
    """
    router = self.router
    if not (router.trackers or router.inboxes or router.slow_tells):
        target: Cell | None
        if type(to) is AgentRef:
            target = to._cell
            if target is not None and target.router is not router:
                target = None
        elif type(to) is str:
            # a name is one dict lookup (a live agent's name is never a group's)
            target = router.cells.get(to)
        else:
            target = None
        if target is not None and target.exit_reason is None:
            self.sent += 1
            sender = self.ref
            engine = target.engine
            if target.compact and type(msg) is not Envelope and performative is None:
                if not engine.virtual:
                    # mailbox.accept_tell, inlined: one frame less per tell (5 % of live
                    # fan-out)
                    mailbox = target.mailbox
                    if mailbox is NO_MAIL:
                        mailbox = target.mailbox = deque()
                    target.received += 1
                    mailbox.append(msg)
                    mailbox.append(sender)
                    mailbox.append(engine.now())
                    if target.run_state is not _ACTIVE:
                        engine.activate(target)
                    return
                if sender is not None:
                    # in virtual time the parts of the tell wait in the round's outbox,
                    # no envelope (sim_100k_sends, sim_fanout in benchmarks/run.py)
                    engine.deliver_tell(target, msg, sender)
                    return
            # envelope.tell_envelope, inlined (virtual ping-pong); the same fields in the
            # same order (tests/runtime/test_envelope_order.py pins it)
            target.deliver(
                target,
                Envelope(
                    msg,
                    sender,
                    to if type(to) is AgentRef else target.ref,
                    type(msg).__name__,
                    performative,
                    None,
                    None,
                    None,
                    None,
                    engine.now(),
                ),
            )
            return
        remote = router.remote
        if target is None and remote is not None:
            # Another container's agent, by address or by a reference from the wire: one
            # parse (cached) and one check that the network reaches it, then the wire
            # (net_nats_tells, and the by-address rows, in benchmarks/run.py).
            ref = (
                to
                if type(to) is AgentRef
                else AgentRef.parse(to)
                if type(to) is str and "://" in to
                else None
            )
            if (
                ref is not None
                and ref.container != router.address
                and remote.reaches(ref.container)
            ):
                self.sent += 1
                now = router.engine.now()
                if (
                    performative is None
                    and type(msg) is not Envelope
                    and remote.tell_direct(self.ref, ref, msg, now)
                ):
                    return  # encoded from its parts: no envelope
                env = Envelope(
                    msg,
                    self.ref,
                    ref,
                    type(msg).__name__,
                    performative,
                    None,
                    None,
                    None,
                    None,
                    now,
                )
                remote.forward(env, ref)
                return
    router.send(
        None if self.ref is None else self,
        to,
        msg,
        None,
        False,
        performative,
        None,
        None,
        None,
        None,
        None,
    )
