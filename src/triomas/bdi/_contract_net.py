"""The FIPA Contract Net protocol (SC00029H): an initiator helper and a participant.

Every message of one run carries the same ``conversation_id`` and the protocol
name ``"fipa-contract-net"``; each answer's ``in_reply_to`` is the ``reply_with``
of the message it answers. Proposals after the deadline are rejected as late.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self, final

import attrs

from .._agent.context import Cancellable, Future
from .._agent.handlers import on
from .._messages.envelope import Envelope
from .._messages.ref import AgentRef, is_address
from ._acts import (
    AcceptProposal,
    Cancel,
    Cfp,
    FipaFailure,
    InformDone,
    InformResult,
    NotUnderstood,
    Propose,
    Refuse,
    RejectProposal,
)
from ._agent import BDIAgent
from ._speech import source_of

if TYPE_CHECKING:
    from .._agent.agent import Recipient

PROTOCOL = "fipa-contract-net"
"""The ``protocol`` field of every Contract Net message."""

log = logging.getLogger("triomas.bdi")
_CLOSED_KEPT = 256


@final
@attrs.frozen(slots=True)
class Bid:
    """A proposal received in time: who made it, what it is."""

    participant: str
    proposal: Any


@final
@attrs.define(slots=True)
class ContractNetResult:
    """How one Contract Net ended.

    ``results`` maps each accepted participant that reported to its
    ``InformResult`` result (None for ``InformDone``); ``failed`` to the reason of
    its ``FipaFailure``. ``silent`` lists the participants that did not answer the
    call by the deadline, ``unfinished`` the accepted ones that did not report
    within ``result_timeout``.
    """

    bids: list[Bid] = attrs.Factory(list)
    refused: dict[str, Any] = attrs.Factory(dict)
    accepted: list[Bid] = attrs.Factory(list)
    results: dict[str, Any] = attrs.Factory(dict)
    failed: dict[str, Any] = attrs.Factory(dict)
    silent: list[str] = attrs.Factory(list)
    late: list[str] = attrs.Factory(list)
    unfinished: list[str] = attrs.Factory(list)


@final
class _Run:
    """The initiator's side of one conversation, fed by the agent's mail."""

    def __init__(self, agent: BDIAgent, cid: str, result: ContractNetResult) -> None:
        self.agent = agent
        self.cid = cid
        self.result = result
        self.inbox: list[Envelope] = []
        self.wake = Future()
        self.collecting = True
        self.closed = False

    def route(self, env: Envelope) -> None:
        if isinstance(env.body, Propose) and not self.collecting:
            self.reject_late(env)
        elif not self.closed:
            self.inbox.append(env)
            self.wake.set_result(None)

    def reject_late(self, env: Envelope) -> None:
        if env.sender is not None:
            if not self.closed:  # the result is the caller's once returned
                self.result.late.append(source_of(self.agent, env.sender))
            self.agent.send(
                env.sender,
                RejectProposal("late"),
                conversation_id=self.cid,
                in_reply_to=env.reply_with,
                protocol=PROTOCOL,
            )

    async def next(self, deadline: float) -> Envelope | None:
        if not self.inbox:
            self.wake = Future()
            if not await self.agent._wait(self.wake, deadline):  # noqa: SLF001 - the BDI agent's conversations (bdi)
                return None
        return self.inbox.pop(0)


async def contract_net(
    agent: BDIAgent,
    participants: Sequence[Recipient],
    task: Any,
    *,
    deadline: float,
    choose: Callable[[list[Bid]], Sequence[Bid]],
    result_timeout: float | None = None,
) -> ContractNetResult:
    """Run a Contract Net from ``agent`` (call it from a plan, or any task of the agent).

    Sends ``Cfp(task)`` to each participant with ``reply_by`` ``deadline`` clock
    seconds from now, collects ``Propose`` and ``Refuse`` until everyone has
    answered or the deadline passes, then accepts the bids ``choose(bids)``
    returns and rejects the others. It then waits for each accepted
    participant's ``InformDone``, ``InformResult`` or ``FipaFailure``, at most
    ``result_timeout`` seconds (None: as long as it takes). Proposals that arrive
    after the deadline get ``RejectProposal("late")``. If the calling task is
    cancelled, accepted participants get ``Cancel``.
    """
    agent._serial += 1  # noqa: SLF001 - the BDI agent's conversations (bdi)
    cid = f"{agent.name}/cnp-{agent._serial}"  # noqa: SLF001 - the BDI agent's conversations (bdi)
    result = ContractNetResult()
    run = _Run(agent, cid, result)
    agent._conversations[cid] = run.route  # noqa: SLF001 - the BDI agent's conversations (bdi)
    reply_by = agent.clock.now() + deadline
    waiting: dict[str, str] = {}
    try:
        for i, to in enumerate(participants):
            rid = f"{cid}/{i}"
            agent.send(
                to,
                Cfp(task),
                conversation_id=cid,
                reply_with=rid,
                reply_by=reply_by,
                protocol=PROTOCOL,
            )
            waiting[rid] = _participant(agent, to)
        answers: dict[str, Envelope] = {}
        while waiting:
            env = await run.next(reply_by)
            if env is None:
                break
            name = waiting.pop(env.in_reply_to or "", None)
            if name is None or env.sender is None:
                continue
            who = source_of(agent, env.sender)
            if isinstance(env.body, Propose):
                result.bids.append(Bid(who, env.body.proposal))
                answers[who] = env
            elif isinstance(env.body, Refuse):
                result.refused[who] = env.body.reason
            elif isinstance(env.body, NotUnderstood):
                result.refused[who] = env.body
        run.collecting = False
        result.silent = list(waiting.values())
        result.accepted = list(choose(list(result.bids)))
        chosen = {bid.participant for bid in result.accepted}
        reports: set[str] = set()
        for bid in result.bids:
            env = answers[bid.participant]
            assert env.sender is not None
            accept = bid.participant in chosen
            agent.send(
                env.sender,
                AcceptProposal(bid.proposal) if accept else RejectProposal("not chosen"),
                conversation_id=cid,
                in_reply_to=env.reply_with,
                protocol=PROTOCOL,
            )
            if accept:
                reports.add(bid.participant)
        finish_by = math.inf if result_timeout is None else agent.clock.now() + result_timeout
        while reports:
            env = await run.next(finish_by)
            if env is None:
                break
            who = source_of(agent, env.sender)
            if who not in reports:
                continue
            body = env.body
            if isinstance(body, InformResult):
                result.results[who] = body.result
            elif isinstance(body, InformDone):
                result.results[who] = None
            elif isinstance(body, FipaFailure):
                result.failed[who] = body.reason
            else:
                continue
            reports.discard(who)
        result.unfinished = [b.participant for b in result.accepted if b.participant in reports]
        return result
    except BaseException:
        for bid in result.accepted:
            if bid.participant not in result.results and bid.participant not in result.failed:
                agent.send(
                    answers[bid.participant].sender or bid.participant,
                    Cancel("the initiator gave up"),
                    conversation_id=cid,
                    protocol=PROTOCOL,
                )
        raise
    finally:
        run.collecting = False
        run.closed = True
        # Keep routing the closed conversation a while, to reject late proposals.
        closed = agent._closed_conversations  # noqa: SLF001 - the BDI agent's conversations (bdi)
        closed[cid] = None
        while len(closed) > _CLOSED_KEPT:
            oldest = next(iter(closed))
            del closed[oldest]
            agent._conversations.pop(oldest, None)  # noqa: SLF001 - the BDI agent's conversations (bdi)


def _participant(agent: BDIAgent, to: Recipient) -> str:
    if isinstance(to, AgentRef):
        return source_of(agent, to)
    if isinstance(to, str) and is_address(to):
        return source_of(agent, AgentRef.parse(to))
    return to.__name__ if isinstance(to, type) else str(to)


class ContractNetParticipant(BDIAgent):
    """A BDI agent that takes part in Contract Nets: override :meth:`bid` and
    :meth:`perform`."""

    _calls: dict[str, Any]
    _contracts: dict[str, Cancellable]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = super().__new__(cls)
        self._calls = {}
        self._contracts = {}
        return self

    def bid(self, task: Any, initiator: str) -> Any:
        """The proposal for ``task`` (plain or ``async``), or None to refuse.

        The default refuses.
        """
        return None

    async def perform(self, task: Any, proposal: Any) -> Any:
        """Do the task once the proposal is accepted; the result is reported with
        ``InformResult`` (``InformDone`` if it is None), an exception with ``FipaFailure``.
        """
        return None

    @on(Cfp)
    def _on_cfp(self, cfp: Cfp, env: Envelope) -> None:
        self._start_task(self._answer_cfp, cfp, env)

    async def _answer_cfp(self, cfp: Cfp, env: Envelope) -> None:
        initiator = "unknown" if env.sender is None else source_of(self, env.sender)
        try:
            proposal = self.bid(cfp.task, initiator)
            if inspect.isawaitable(proposal):
                proposal = await proposal
        except Exception as exc:
            log.warning("agent %s: bid() raised %r", self.name, exc)
            proposal = None
        if proposal is not None and env.conversation_id is not None:
            self._calls[env.conversation_id] = cfp.task
        answer = Refuse("no bid") if proposal is None else Propose(proposal)
        self._answer(env, answer, f"{self.name}/{env.conversation_id}")

    @on(AcceptProposal)
    def _on_accept(self, accept: AcceptProposal, env: Envelope) -> None:
        cid = env.conversation_id
        if cid is None or cid not in self._calls or cid in self._contracts:
            return
        task = self._calls.pop(cid)
        self._contracts[cid] = self._start_task(self._perform, task, accept, env)

    async def _perform(self, task: Any, accept: AcceptProposal, env: Envelope) -> None:
        assert env.conversation_id is not None
        try:
            result = await self.perform(task, accept.proposal)
        except Exception as exc:
            self._answer(env, FipaFailure(repr(exc)))
        else:
            self._answer(env, InformDone() if result is None else InformResult(result))
        finally:
            self._contracts.pop(env.conversation_id, None)

    @on(RejectProposal)
    def _on_reject(self, reject: RejectProposal, env: Envelope) -> None:
        self._calls.pop(env.conversation_id or "", None)
        self._note("rejected", f"{env.conversation_id}: {reject.reason!r}")

    @on(Cancel)
    def _on_cancel(self, cancel: Cancel, env: Envelope) -> None:
        handle = self._contracts.pop(env.conversation_id or "", None)
        if handle is not None:
            handle.cancel()

    def _answer(self, env: Envelope, act: Any, reply_with: str | None = None) -> None:
        if env.sender is not None:
            self.send(
                env.sender,
                act,
                conversation_id=env.conversation_id,
                in_reply_to=env.reply_with,
                reply_with=reply_with,
                protocol=PROTOCOL,
            )
