"""The triomas network workloads: the codec, and asks to an agent in another process.

The callee is a :class:`_net_agents.NetPonger` in a node started with
:func:`triomas.spawn_container`; this folder goes on the child's ``PYTHONPATH`` so that
it can import it by path. Starting the node and the first asks (the connection's
handshake among them) are not timed.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import trio
from _harness import Probe, Sample, clock, probe_start
from _messages import Ping, Reading
from _net_raw import Scheme, addresses

import triomas

_HERE = str(Path(__file__).resolve().parent)


def child_env() -> dict[str, str]:
    """This environment, with the benchmarks folder first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_HERE, env.get("PYTHONPATH")) if p)
    return env


# ---- asks across processes --------------------------------------------------------------


def _with_ponger(
    scheme: Scheme,
    body: Callable[[triomas.Container, triomas.AgentRef, int], Awaitable[Sample]],
    heartbeat: float | None = 5.0,
) -> Sample:
    """Run ``body`` with a container here, a :class:`NetPonger` in a node and the node's
    pid, both containers listening at ``scheme`` addresses; the node is stopped (and
    reaped) on the way out. ``heartbeat``: this side's (the node keeps the default, 5 s)."""

    async def main() -> Sample:
        with addresses(scheme) as address:
            async with triomas.open_container(address("parent"), heartbeat=heartbeat) as c:
                node = await triomas.spawn_container(
                    c, address("node"), allow=["_net_agents:NetPonger"], env=child_env()
                )
                try:
                    ponger = await node.spawn("_net_agents:NetPonger", name="ponger")
                    return await body(c, ponger, node.process.pid)
                finally:
                    await node.stop()

    return trio.run(main)


async def _asks(c: triomas.Container, ponger: triomas.AgentRef, first: int, count: int) -> None:
    ask = c.ask
    for n in range(first, first + count):
        if await ask(ponger, Ping(n)) != n + 1:
            raise AssertionError("wrong reply")


def ask_sequential(
    scheme: Scheme,
    round_trips: int,
    warmup: int,
    heartbeat: float | None = 5.0,
    *,
    probe: Probe | None = None,
) -> Sample:
    """``await container.ask()`` from trio code, one at a time, to the node's agent."""

    async def body(c: triomas.Container, ponger: triomas.AgentRef, pid: int) -> Sample:
        await _asks(c, ponger, -warmup, warmup)
        done = probe_start(probe, pid)
        start = clock()
        await _asks(c, ponger, 0, round_trips)
        elapsed = clock() - start
        done()
        return Sample(round_trips, elapsed)

    return _with_ponger(scheme, body, heartbeat)


async def _asks_in_flight(
    c: triomas.Container, ponger: triomas.AgentRef, in_flight: int, per_asker: int, base: int
) -> None:
    async with trio.open_nursery() as nursery:
        for k in range(in_flight):
            nursery.start_soon(_asks, c, ponger, base + k * per_asker, per_asker)


def ask_in_flight(
    scheme: Scheme, requests: int, in_flight: int, warmup: int, *, probe: Probe | None = None
) -> Sample:
    """``in_flight`` trio tasks, each ``await container.ask()``-ing in a loop."""
    per_asker = requests // in_flight

    async def body(c: triomas.Container, ponger: triomas.AgentRef, pid: int) -> Sample:
        await _asks_in_flight(c, ponger, in_flight, max(1, warmup // in_flight), -warmup)
        done = probe_start(probe, pid)
        start = clock()
        await _asks_in_flight(c, ponger, in_flight, per_asker, 0)
        elapsed = clock() - start
        done()
        return Sample(in_flight * per_asker, elapsed)

    return _with_ponger(scheme, body)


# ---- the codec --------------------------------------------------------------------------

READING = Reading(sensor="boiler-7/outlet", seq=123_456, value=71.25, raw=bytes(range(32)))
"""The message of the codec benchmark: four fields (str, int, float, bytes)."""


def codec_roundtrip(count: int, msg: Any = READING) -> Sample:
    """What the wire does to a body: ``dumps`` packs the flat array ``[tag, *fields]``,
    ``loads`` unpacks it, checks each field's type and builds the message."""
    codec = triomas.Codec()
    dumps, loads = codec.dumps, codec.loads
    if loads(dumps(msg)) != msg:
        raise AssertionError("the round trip changed the message")
    start = clock()
    for _ in range(count):
        loads(dumps(msg))
    return Sample(count, clock() - start)


def naive_roundtrip(count: int, msg: Any = READING) -> Sample:
    """The naive way with the same cattrs converter: ``unstructure``, ``packb``,
    ``unpackb``, ``structure``."""
    converter = triomas.Codec().converter
    cls = type(msg)
    unstructure, structure = converter.unstructure, converter.structure
    packb, unpackb = msgpack.packb, msgpack.unpackb
    if structure(unpackb(packb(unstructure(msg))), cls) != msg:
        raise AssertionError("the round trip changed the message")
    start = clock()
    for _ in range(count):
        structure(unpackb(packb(unstructure(msg))), cls)
    return Sample(count, clock() - start)
