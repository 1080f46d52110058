"""CPU time per message on each side of a NATS server: the sender (this process), the
``nats-server`` and the receiver (a ``triomas node --nats`` child). Standalone: not part
of ``run.py``.

Usage::

    python benchmarks/nats_cpu.py tells [--count 200000] [--reps 3]
    python benchmarks/nats_cpu.py asks [--count 5000] [--reps 3]

``tells``: ``container.send()`` to an agent in the node, by address, a checkpoint every
256 (as ``net_nats_tells``), then one ask that returns once all were handled. ``asks``:
``await container.ask()`` in a loop (as ``net_nats_seq``). Three processes share the
machine's cores, so where the throughput of ``run.py`` stops is where one of them runs
out of CPU: this says which (psutil ``cpu_times``, user + system, over the timed part).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import psutil
import trio
from _messages import Ping
from _nats_bench import _node, running_server

import triomas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", choices=["tells", "asks"])
    parser.add_argument("--count", type=int)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    tells = args.shape == "tells"
    count = args.count or (200_000 if tells else 5_000)
    agent = "sink=_net_agents:NetSink" if tells else "ponger=_net_agents:NetPonger"
    with running_server() as url, _node(url, agent) as target:
        me = psutil.Process()
        others = {
            "nats-server" if child.name().startswith("nats") else "node": child
            for child in me.children(recursive=True)
        }

        async def run() -> None:
            async with triomas.open_container(url, name="sender") as c:
                for n in range(500):
                    await c.ask(target, Ping(n))  # warm: the path and the caches
                for _ in range(args.reps):
                    before = {name: p.cpu_times() for name, p in others.items()}
                    mine, start = me.cpu_times(), time.perf_counter()
                    if tells:
                        for n in range(count):
                            c.send(target, Ping(n))
                            if not n & 255:
                                await trio.lowlevel.checkpoint()
                        await c.ask(target, Ping(-1), timeout=60)
                    else:
                        for n in range(count):
                            await c.ask(target, Ping(n))
                    elapsed = time.perf_counter() - start
                    after = {name: p.cpu_times() for name, p in others.items()}
                    mine_after = me.cpu_times()

                    def us(a: Any, b: Any) -> float:
                        return round((b.user + b.system - a.user - a.system) / count * 1e6, 2)

                    sides = {name: us(before[name], after[name]) for name in others}
                    print(
                        f"{count / elapsed:,.0f} {args.shape}/s; CPU µs each: "
                        f"sender {us(mine, mine_after)}, "
                        + ", ".join(f"{name} {value}" for name, value in sides.items())
                    )

        trio.run(run)


if __name__ == "__main__":
    main()
