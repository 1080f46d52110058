"""A worker pool under a one-for-one supervisor rides out a storm of crashing jobs.

    python examples/worker_pool.py

A ``DynamicSupervisor`` starts four workers from one template (``worker-1`` to
``worker-4``). Jobs go out round-robin, one wave of four per clock second; in
the middle waves, a storm, many of them are poison and make the handler raise.
What a crash does:

- the job's ``ask`` raises ``CalleeDown`` at once, so the dispatcher knows
  straight away which jobs failed (no timeout to wait out);
- the supervisor restarts that worker alone (one for one): a new incarnation
  at the same address, with the same mailbox, and the other workers keep
  their state; the poison job is not delivered again;
- ``ChildExited`` and ``ChildStarted`` events say so, and count the restarts;
- a job waiting behind the poison one stays in the mailbox and is answered by
  the next incarnation.

The storm's restarts stay within the pool's intensity limit (more than 50
within 5 clock seconds would make it give up), so after the storm the pool
still serves every job. The run is in virtual time and seeded: every run
prints the same lines.
"""

from __future__ import annotations

import logging
import random

import triomas
from triomas import (
    Agent,
    AgentRef,
    CalleeDown,
    ChildExited,
    ChildSpec,
    ChildStarted,
    DynamicSupervisor,
    SystemEvent,
    message,
    on,
)

WORKERS = 4
WAVES = 8
STORM = range(3, 7)  # the waves in which jobs may be poison
SEED = 3


@message(tag="pool.Job")
class Job:
    """Square ``n``; a poison job makes the worker crash instead."""

    n: int
    poison: bool = False


class Worker(Agent):
    """Squares numbers, and counts the jobs done by this incarnation."""

    def setup(self) -> None:
        self.done = 0  # state of one incarnation: a restart starts again from 0

    @on(Job)
    def job(self, msg: Job) -> int:
        if msg.poison:
            raise ValueError(f"poison job {msg.n}")
        self.done += 1
        return msg.n * msg.n


class RestartLog:
    """Counts the pool's restarts from its events, and notes when each one came."""

    def __init__(self, pool: AgentRef, clock: triomas.Clock) -> None:
        self.pool = pool
        self.clock = clock
        self.times: list[float] = []  # when each restart was decided
        self.news: list[str] = []  # new incarnations not yet reported

    def __call__(self, event: SystemEvent) -> None:
        if not isinstance(event, (ChildExited, ChildStarted)) or event.supervisor != self.pool:
            return
        if isinstance(event, ChildExited) and event.will_restart:
            self.times.append(self.clock.now())
        elif isinstance(event, ChildStarted) and event.incarnation > 1:
            self.news.append(f"{event.ref.name} #{event.incarnation}")

    def busiest(self, period: float) -> int:
        """The most restarts within any ``period`` seconds (both ends included)."""
        return max((sum(t <= s <= t + period for s in self.times) for t in self.times), default=0)


async def worker_pool() -> None:
    # A crash is logged with its traceback on the "triomas" logger. Here the crashes
    # are expected, they are the point of the demo: keep the log quiet.
    logging.getLogger("triomas").setLevel(logging.CRITICAL)
    dice = random.Random(SEED)

    async with triomas.open_container() as c:
        sup_ref = await c.start(
            DynamicSupervisor, ChildSpec("worker", Worker), max_restarts=50, period=5.0, name="pool"
        )
        sup = c.agent(sup_ref, DynamicSupervisor)
        refs = [await sup.start_child() for _ in range(WORKERS)]
        print(f"pool of {len(refs)}: {', '.join(ref.name for ref in refs)}")
        restarts = RestartLog(sup_ref, c.clock)
        stop_listening = c.on_event(restarts)

        ok = failed = 0
        for wave in range(1, WAVES + 1):
            storm = wave in STORM
            print(f"t={c.clock.now()} wave {wave}{' (storm)' if storm else ''}")
            for i, ref in enumerate(refs):
                job = Job((wave - 1) * WORKERS + i + 1, poison=storm and dice.random() < 0.5)
                try:
                    answer = await c.ask(ref, job)
                except CalleeDown as exc:  # at once: the handler raised
                    failed += 1
                    print(f"  job {job.n:2} -> {ref.name}: CalleeDown ({exc.__cause__})")
                else:
                    ok += 1
                    print(f"  job {job.n:2} -> {ref.name}: {answer}")
            await c.run_until_idle()  # let the supervisor finish this wave's restarts
            if restarts.news:
                print(f"  restarted: {', '.join(restarts.news)}")
                restarts.news.clear()
            await c.clock.sleep(1)

        print(f"jobs: {ok + failed} sent, {ok} answered, {failed} failed with CalleeDown")
        print(
            f"restarts: {len(restarts.times)}, at most {restarts.busiest(5.0)} within 5 s"
            " (the pool gives up after 50)"
        )
        for ref in refs:
            worker = c.agent(ref, Worker)
            print(f"  {ref.name}: incarnation {worker.incarnation}, {worker.done} jobs done by it")
        answers = [await c.ask(ref, Job(10 + k)) for k, ref in enumerate(refs)]
        print(f"t={c.clock.now()} after the storm the pool still serves: {answers}")

        # The mailbox outlives the incarnation: a job queued behind a poison one is
        # answered by the next incarnation, at the same address.
        first = refs[0]
        c.send(first, Job(99, poison=True))
        answer = await c.ask(first, Job(7))
        incarnation = c.agent(first, Worker).incarnation
        print(f"{first.name} gets poison job 99, then job 7: #{incarnation} answers {answer}")
        stop_listening()


def main() -> None:
    triomas.run(worker_pool, clock=triomas.VirtualClock(), seed=SEED)


if __name__ == "__main__":
    main()
