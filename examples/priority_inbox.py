"""A MASlite-style priority inbox, stepped in deterministic rounds of virtual time.

    python examples/priority_inbox.py

Both agents override ``update()`` instead of declaring ``@on`` handlers: the
runtime calls it once after ``setup()`` and then whenever messages are waiting,
and the agent drains ``self.messages`` with ``self.receive()`` itself.

The dispatcher sends the worker three jobs in one update, in the order
normal 1, urgent 2, normal 3. The worker sorts what it drained so that "urgent"
comes first, handles ``[2, 1, 3]`` and acknowledges. A message sent in round k
is handled in round k+1 at the earliest, so the run takes exactly three rounds:

    round 1  dispatcher update (sends the jobs), worker update (nothing yet)
    round 2  worker update: handles [2, 1, 3], sends the ack
    round 3  dispatcher update: receives the ack

Two runs with the same seed produce the same trace, record for record.
"""

from __future__ import annotations

import triomas
from triomas import Agent, TraceRecord, message

JOBS = [(1, "normal"), (2, "urgent"), (3, "normal")]


@message
class Job:
    """A unit of work; its priority travels as the envelope's topic."""

    id: int


@message
class Ack:
    """The ids of the jobs a worker handled, in the order it handled them."""

    ids: tuple[int, ...]


class Dispatcher(Agent):
    """Sends the jobs in its first update and collects the acks in later ones."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.sent = False

    def update(self) -> None:
        self.journal.append(f"round {self.container.round}: {self.name} update")
        if not self.sent:
            self.sent = True
            for job_id, priority in JOBS:
                self.send("worker", Job(job_id), topic=priority)
                self.journal.append(f"  sends Job({job_id}) with topic {priority!r}")
        while self.messages:
            envelope = self.receive()
            sender = envelope.sender.name if envelope.sender is not None else "outside"
            self.journal.append(f"  receives {envelope.body} from {sender}")


class Worker(Agent):
    """Drains its whole inbox, then handles "urgent" jobs before the others."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal

    def update(self) -> None:
        self.journal.append(f"round {self.container.round}: {self.name} update")
        batch = []
        while self.messages:
            batch.append(self.receive())
        if not batch:
            self.journal.append("  nothing to do yet")
            return
        batch.sort(key=lambda envelope: envelope.topic != "urgent")  # stable: FIFO otherwise
        ids = tuple(envelope.body.id for envelope in batch)
        self.journal.append(f"  handles jobs {list(ids)}")
        requester = batch[0].sender
        assert requester is not None  # jobs come from the dispatcher, not from outside
        self.send(requester, Ack(ids))


async def simulate(journal: list[str], trace: list[TraceRecord]) -> None:
    """Spawn both agents and run until there is nothing left to do."""
    async with triomas.open_container(trace=trace.append) as c:
        await c.spawn(Dispatcher, journal, name="dispatcher")
        await c.spawn(Worker, journal, name="worker")
        report = await c.run_until_idle()
        journal.append(f"run_until_idle -> {report.reason} after {report.rounds} rounds")


def main() -> None:
    journal: list[str] = []
    trace: list[TraceRecord] = []
    triomas.run(simulate, journal, trace, clock=triomas.VirtualClock(), seed=1)
    print("\n".join(journal))
    updates = [record.agent for record in trace if record.event == "update"]
    print(f"update calls: {', '.join(updates)}")

    journal_2: list[str] = []
    trace_2: list[TraceRecord] = []
    triomas.run(simulate, journal_2, trace_2, clock=triomas.VirtualClock(), seed=1)
    same = journal == journal_2 and trace == trace_2
    print(f"a second run gives the same trace: {same} ({len(trace)} trace records)")


if __name__ == "__main__":
    main()
