"""Spawn many trivial agents in a fresh process; print one JSON line.

Run by ``run.py`` in a subprocess so that the resident-set figure is not blurred
by what earlier workloads left in the allocator. Usage::

    python benchmarks/_spawn.py AGENTS live|virtual|maslite [--no-gc] [--close]

The reported ``seconds`` run from the first ``spawn`` call until every agent has
run its (empty) setup and the container is idle; ``spawn_calls_s`` covers the
``spawn`` calls alone. ``rss_per_agent_bytes`` is the growth of the resident set
over that span divided by the number of agents, after a full collection both
times. With ``--close`` the time to leave the container (which stops every
agent) is measured too; otherwise the process exits without closing it.

``maslite`` does the same with MASlite: ``scheduler.add`` of idle agents (which calls
their ``setup()``) on a ``Scheduler(real_time=False)``, and with ``--close``
``scheduler.remove`` of each (its ``teardown()`` and deregistration).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

import trio

import triomas
from triomas import Agent


class Idle(Agent):
    """An agent that does nothing (no setup, no handler)."""


def rss_bytes() -> int | None:
    try:
        import psutil
    except ImportError:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return None
    return int(psutil.Process().memory_info().rss)


def main_maslite(agents: int, use_gc: bool, close: bool) -> None:
    from _sim_peers import MIdle, new_scheduler

    scheduler = new_scheduler()
    scheduler.add(MIdle())  # warm up, as for triomas
    gc.collect()
    objects0 = len(gc.get_objects())
    rss0 = rss_bytes()
    if not use_gc:
        gc.disable()
    add = scheduler.add
    start = time.perf_counter()
    for _ in range(agents):
        add(MIdle())
    settled = time.perf_counter()
    gc.enable()
    gc.collect()
    rss1 = rss_bytes()
    objects1 = len(gc.get_objects())
    if len(scheduler.agents) != agents + 1:
        raise AssertionError("agents went missing")
    result: dict[str, object] = {
        "seconds": settled - start,
        "spawn_calls_s": settled - start,
        "rss_per_agent_bytes": None if rss0 is None or rss1 is None else (rss1 - rss0) / agents,
        "gc_objects_per_agent": (objects1 - objects0) / agents,
    }
    if close:
        remove = scheduler.remove
        closing = time.perf_counter()
        for uuid in list(scheduler.agents):
            remove(uuid)
        result["close_s"] = time.perf_counter() - closing
        if scheduler.agents:
            raise AssertionError("agents were left")
    print(json.dumps(result), flush=True)
    os._exit(0)


def main(agents: int, mode: str, use_gc: bool, close: bool) -> None:
    if mode == "maslite":
        main_maslite(agents, use_gc, close)
    result: dict[str, object] = {}

    async def body() -> None:
        clk = triomas.VirtualClock() if mode == "virtual" else None
        async with triomas.open_container(clock=clk) as c:
            # Warm the code paths up with one agent before taking the baseline.
            await c.spawn(Idle)
            await c.run_until_idle()
            gc.collect()
            objects0 = len(gc.get_objects())
            rss0 = rss_bytes()
            if not use_gc:
                gc.disable()
            start = time.perf_counter()
            for _ in range(agents):
                await c.spawn(Idle)
            spawned = time.perf_counter()
            await c.run_until_idle()
            settled = time.perf_counter()
            gc.enable()
            gc.collect()
            rss1 = rss_bytes()
            objects1 = len(gc.get_objects())
            if len(c.agents()) != agents + 1:
                raise AssertionError("agents went missing")
            result.update(
                seconds=settled - start,
                spawn_calls_s=spawned - start,
                rss_per_agent_bytes=None
                if rss0 is None or rss1 is None
                else (rss1 - rss0) / agents,
                gc_objects_per_agent=(objects1 - objects0) / agents,
            )
            if not close:
                print(json.dumps(result), flush=True)
                os._exit(0)  # skip the (separately measured) teardown of all the agents
            closing = time.perf_counter()
        result["close_s"] = time.perf_counter() - closing

    trio.run(body)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]), args[1], "--no-gc" not in args, "--close" in args)
