"""A container in a child process: start it, spawn an agent in it, ask the agent, stop it.

    python examples/two_processes.py

``triomas.spawn_container`` starts ``python -m triomas node`` in a child process,
waits until its container listens, and returns a ``Node``. ``node.spawn`` starts
an agent there by import path (``"module:Class"``), so the child must be able to
import the class: here it is this very file, imported in the child as the module
``two_processes``, because the child's ``PYTHONPATH`` includes this directory. The
class must be on the node's allow-list too: a node imports nothing because a peer
named it. The node gets a random shared secret, which only this container knows.
The agent's arguments and the messages travel through the codec, like every
message between containers.

From then on the agent is an address like any other: this process asks it with
``c.ask(ref, ...)``. ``node.stop()`` stops the node's agents, waits for the
process to exit and returns its exit code; the node would also be stopped when
the parent's container closes, and it exits by itself if its parent dies.

The node's port differs from run to run; the rest of the output is the same
every time.
"""

from __future__ import annotations

import os
from pathlib import Path

import triomas
from triomas import Agent, message, on

HERE = Path(__file__).resolve().parent  # the child imports this file from here


@message
class Multiply:
    """A number to multiply by the agent's factor."""

    n: int


@message
class WhereAreYou:
    """Asks an agent for the id of the process it runs in."""


class Multiplier(Agent):
    """Multiplies by the factor it was spawned with."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    @on(Multiply)
    def multiply(self, msg: Multiply) -> int:
        return msg.n * self.factor

    @on(WhereAreYou)
    def where(self, msg: WhereAreYou) -> int:
        return os.getpid()


async def main() -> None:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    async with triomas.open_container("tcp://127.0.0.1:0") as c:
        node = await triomas.spawn_container(
            c,
            "tcp://127.0.0.1:0",
            allow=["two_processes:Multiplier"],  # the only class peers may start there
            env={**os.environ, "PYTHONPATH": path},
        )
        print(f"node listening at {node.address}")

        ref = await node.spawn("two_processes:Multiplier", 7, name="times7")
        print(f"spawned {ref.address}")
        for n in (6, 191):
            print(f"ask(times7, Multiply({n})) -> {await c.ask(ref, Multiply(n))}")
        pid = await c.ask(ref, WhereAreYou())
        print(f"times7 runs in another process: {pid == node.process.pid != os.getpid()}")
        print(f"agents in the node: {[agent.name for agent in await node.agents()]}")

        code = await node.stop()
        print(f"node stopped with exit code {code}")
    print("container closed")


if __name__ == "__main__":
    triomas.run(main)
