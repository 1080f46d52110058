"""RPC between two containers over loopback TCP: aiomas' caller and callee (scenario S8).

    python examples/rpc.py

Two containers listen on 127.0.0.1, each on a free port (port 0). One holds a
``Callee`` that exposes ``spam(times)``; the other a ``Caller`` that connects to
it by address and calls it through a proxy, as in aiomas::

    callee = await self.connect(callee_address)
    result = await callee.spam(3)

Then the caller shows the two ways a call fails. An exposed method that raises
sends its exception back to the caller as ``RemoteError`` (type name, message,
origin and the remote traceback text), and the callee carries on: that is the
difference from an ``@on`` handler, whose exception would crash the agent. A
method the callee does not expose fails with ``NotExposed`` before anything is
sent.

When the ``async with`` blocks end, the agents stop and every connection closes,
without a warning. The ports differ from run to run; the rest of the output is
the same every time.
"""

from __future__ import annotations

import triomas
from triomas import Agent, NotExposed, RemoteError, expose


class Callee(Agent):
    """Exposes two methods: one that answers, one that raises."""

    @expose
    def spam(self, times: int) -> str:
        return "spam" * times

    @expose
    async def eggs(self, n: int) -> str:
        if n > 2:
            raise ValueError(f"{n} eggs is too many")
        return "eggs" * n


class Caller(Agent):
    """Connects to the callee by address and calls it."""

    def __init__(self, callee_address: str) -> None:
        self.callee_address = callee_address

    async def setup(self) -> None:
        print(f"Caller {self.ref.address} connecting to {self.callee_address}")
        callee = await self.connect(self.callee_address)
        print(f"Caller {self.ref.address} connected; the callee exposes {dir(callee)}")
        result = await callee.spam(3)
        print(f"Caller {self.ref.address} got {result}")

        try:
            await callee.eggs(12)
        except RemoteError as error:
            print(f"RemoteError: {error.type_name}: {error.message}")
            print(f"  raised in {error.origin}")
            print(f"  remote traceback ends with: {error.traceback.splitlines()[-1]}")
        print(f"the callee carries on: eggs(2) -> {await callee.eggs(2)}")

        try:
            await callee.ham()
        except NotExposed as error:
            print(f"NotExposed: {error}")
        self.stop()


async def main() -> None:
    async with (
        triomas.open_container("tcp://127.0.0.1:0") as callee_side,
        triomas.open_container("tcp://127.0.0.1:0") as caller_side,
    ):
        callee = await callee_side.spawn(Callee)
        await caller_side.spawn(Caller, callee.address)
        await caller_side.join()  # until the caller has stopped
        print(f"callee incarnation: {callee_side.agent(callee).incarnation}")
    print("both containers closed")


if __name__ == "__main__":
    triomas.run(main)
