"""The network workloads on mango (agents on asyncio), beside triomas's (``_net_bench.py``).

The callee is an agent in a mango TCP container in a child process::

    python benchmarks/_mango_bench.py

``mango.create_tcp_container`` on 127.0.0.1 port 0, with one :class:`MangoPonger`,
``"ponger"``, whose ``handle_message`` answers ``n`` with ``n + 1`` by ``reply_to``
(scheduled as a task: mango's handlers are plain functions, sending is a coroutine).
The caller, in this process on a fresh asyncio loop, is a :class:`MangoAsker` in a TCP
container of its own: it sends ``n`` with ``send_tracked_message`` and awaits a future
that its response handler resolves (mango matches the reply by its ``tracking_id``).

Both containers keep mango's defaults: the ``mango.JSON`` codec (the standard library's
``json``; mango's message envelope, ``MangoMessage``, is one of its serialised types)
and the real-time ``AsyncioClock``. A mango container sends on connections it opens
itself, so the requests go on one TCP connection, from this container to the child's,
and the replies on another, from the child's container to this one;
``tcp_max_connections_per_target=1`` keeps it to one each way (mango's pool opens up to
10 to one peer when a send finds none free, as the first of concurrent sends do).
Starting the child and the first ``warmup`` asks are not timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _harness import Probe, Sample, clock, probe_start
from _peer_proc import DEADLINE, announce, peer_server, stdin_closed

try:
    import mango
except Exception as exc:  # pragma: no cover - the bench extra installs it
    mango = None
    MANGO_MISSING: str | None = (
        f"import mango failed: {type(exc).__name__}: {exc} (pip install mango-agents)"
    )
else:
    MANGO_MISSING = None

_SCRIPT = str(Path(__file__).resolve())
_POOL = {"tcp_max_connections_per_target": 1}

if mango is not None:

    class MangoPonger(mango.Agent):
        """The callee: answers every message ``n`` with ``n + 1``."""

        def handle_message(self, content: Any, meta: dict[str, Any]) -> None:
            self.schedule_instant_task(self.reply_to(content + 1, meta))

    class MangoAsker(mango.Agent):
        """The caller: :meth:`ask` sends a tracked message and awaits its reply."""

        def __init__(self) -> None:
            super().__init__()
            self.unexpected: list[Any] = []

        def handle_message(self, content: Any, meta: dict[str, Any]) -> None:
            # Replies go to their response handlers; nothing else should arrive.
            self.unexpected.append(content)

        async def ask(self, to: Any, n: int) -> Any:
            reply = asyncio.get_running_loop().create_future()
            await self.send_tracked_message(
                n, to, response_handler=lambda content, meta: reply.set_result(content)
            )
            return await reply


# ---- the server (child process) ---------------------------------------------------------


async def serve() -> None:
    """Run a container with a :class:`MangoPonger` on 127.0.0.1, a free port, until
    stdin closes."""
    container = mango.create_tcp_container(("127.0.0.1", 0), **_POOL)
    container.register(MangoPonger(), "ponger")
    async with mango.activate(container):
        host, port = container.addr
        announce(host, port)
        await stdin_closed()


# ---- the client (this process) ----------------------------------------------------------

Ask = Callable[[int], Awaitable[Any]]


def _with_ponger(body: Callable[[Ask, int], Awaitable[Sample]]) -> Sample:
    """Run ``body`` with the ``ask`` of an agent here to the ponger in a child, and the
    child's pid."""
    with peer_server(_SCRIPT) as (host, port, pid):

        async def main() -> Sample:
            async with asyncio.timeout(DEADLINE):
                container = mango.create_tcp_container(("127.0.0.1", 0), **_POOL)
                asker = container.register(MangoAsker(), "asker")
                ponger = mango.AgentAddress((host, port), "ponger")
                async with mango.activate(container):

                    def ask(n: int) -> Awaitable[Any]:
                        return asker.ask(ponger, n)

                    sample = await body(ask, pid)
                if asker.unexpected:
                    raise AssertionError(f"messages that are no reply: {asker.unexpected[:3]}")
                return sample

        return asyncio.run(main())


async def _asks(ask: Ask, first: int, count: int) -> None:
    for n in range(first, first + count):
        if await ask(n) != n + 1:
            raise AssertionError("wrong reply")


def mango_sequential(round_trips: int, warmup: int, *, probe: Probe | None = None) -> Sample:
    """One ask at a time: send, await the reply, repeat."""

    async def body(ask: Ask, pid: int) -> Sample:
        await _asks(ask, -warmup, warmup)
        done = probe_start(probe, pid)
        start = clock()
        await _asks(ask, 0, round_trips)
        elapsed = clock() - start
        done()
        return Sample(round_trips, elapsed)

    return _with_ponger(body)


async def _asks_in_flight(ask: Ask, in_flight: int, per_asker: int, base: int) -> None:
    await asyncio.gather(*(_asks(ask, base + k * per_asker, per_asker) for k in range(in_flight)))


def mango_in_flight(
    requests: int, in_flight: int, warmup: int, *, probe: Probe | None = None
) -> Sample:
    """``in_flight`` asyncio tasks (``asyncio.gather``), each asking in a loop."""
    per_asker = requests // in_flight

    async def body(ask: Ask, pid: int) -> Sample:
        await _asks(ask, -warmup, 1)  # open the connections one at a time first
        await _asks_in_flight(ask, in_flight, max(1, warmup // in_flight), -warmup)
        done = probe_start(probe, pid)
        start = clock()
        await _asks_in_flight(ask, in_flight, per_asker, 0)
        elapsed = clock() - start
        done()
        return Sample(in_flight * per_asker, elapsed)

    return _with_ponger(body)


if __name__ == "__main__":
    asyncio.run(serve())
