"""The network workloads on aiomas (RPC on asyncio), beside triomas's (``_net_bench.py``).

The callee is an aiomas RPC server in a child process::

    python benchmarks/_aiomas_bench.py MsgPack     # or JSON

``aiomas.rpc.start_server`` on 127.0.0.1 port 0 with a :class:`AiomasPonger`, whose
``@expose``d ``ping(n)`` returns ``n + 1``. The client, in this process on a fresh
asyncio loop, opens one connection to it with ``aiomas.rpc.open_connection`` and calls
``await remote.ping(n)``: requests and replies share that connection, matched by id.
Both sides use the same codec, ``aiomas.codecs.MsgPack`` or ``aiomas.codecs.JSON``.
aiomas comes from :mod:`_aiomas_shim`, which makes its MsgPack codec work with msgpack
>= 1.0. Starting the server and the first ``warmup`` calls are not timed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from _harness import Probe, Sample, clock, probe_start
from _peer_proc import DEADLINE, announce, peer_server, stdin_closed

try:
    from _aiomas_shim import aiomas
except Exception as exc:  # pragma: no cover - the bench extra installs it
    # aiomas is unmaintained: an old copy may fail in other ways than ImportError.
    aiomas = None
    AIOMAS_MISSING: str | None = (
        f"import aiomas failed: {type(exc).__name__}: {exc} (pip install aiomas)"
    )
else:
    AIOMAS_MISSING = None

Codec = Literal["MsgPack", "JSON"]
Ping = Callable[[int], Awaitable[Any]]

_SCRIPT = str(Path(__file__).resolve())

if aiomas is not None:

    class AiomasPonger:
        """The callee's RPC service: ``ping(n)`` returns ``n + 1`` (a plain method)."""

        router = aiomas.rpc.Service()

        @aiomas.expose
        def ping(self, n: int) -> int:
            return n + 1


# ---- the server (child process) ---------------------------------------------------------


async def serve(codec: Codec) -> None:
    """Serve :class:`AiomasPonger` on 127.0.0.1, a free port, until stdin closes."""
    server = await aiomas.rpc.start_server(
        ("127.0.0.1", 0), AiomasPonger(), codec=getattr(aiomas.codecs, codec)
    )
    try:
        host, port = server.sockets[0].getsockname()[:2]
        announce(host, port)
        await stdin_closed()
    finally:
        server.close()


# ---- the client (this process) ----------------------------------------------------------


def _with_server(codec: Codec, body: Callable[[Ping, int], Awaitable[Sample]]) -> Sample:
    """Run ``body`` with the ``ping`` proxy of a connection to a server in a child, and
    the child's pid."""
    with peer_server(_SCRIPT, codec) as (host, port, pid):

        async def main() -> Sample:
            async with asyncio.timeout(DEADLINE):
                client = await aiomas.rpc.open_connection(
                    (host, port), codec=getattr(aiomas.codecs, codec)
                )
                try:
                    return await body(client.remote.ping, pid)
                finally:
                    await client.close()

        return asyncio.run(main())


async def _calls(ping: Ping, first: int, count: int) -> None:
    for n in range(first, first + count):
        if await ping(n) != n + 1:
            raise AssertionError("wrong reply")


def aiomas_sequential(
    codec: Codec, round_trips: int, warmup: int, *, probe: Probe | None = None
) -> Sample:
    """``await remote.ping(n)`` in a loop, one call at a time."""

    async def body(ping: Ping, pid: int) -> Sample:
        await _calls(ping, -warmup, warmup)
        done = probe_start(probe, pid)
        start = clock()
        await _calls(ping, 0, round_trips)
        elapsed = clock() - start
        done()
        return Sample(round_trips, elapsed)

    return _with_server(codec, body)


async def _calls_in_flight(ping: Ping, in_flight: int, per_caller: int, base: int) -> None:
    await asyncio.gather(
        *(_calls(ping, base + k * per_caller, per_caller) for k in range(in_flight))
    )


def aiomas_in_flight(
    codec: Codec, requests: int, in_flight: int, warmup: int, *, probe: Probe | None = None
) -> Sample:
    """``in_flight`` asyncio tasks (``asyncio.gather``), each calling in a loop, all on
    the one connection."""
    per_caller = requests // in_flight

    async def body(ping: Ping, pid: int) -> Sample:
        await _calls_in_flight(ping, in_flight, max(1, warmup // in_flight), -warmup)
        done = probe_start(probe, pid)
        start = clock()
        await _calls_in_flight(ping, in_flight, per_caller, 0)
        elapsed = clock() - start
        done()
        return Sample(in_flight * per_caller, elapsed)

    return _with_server(codec, body)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))  # type: ignore[arg-type]
