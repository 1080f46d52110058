"""What a node in a child process runs for the network benchmarks.

The benchmarks spawn it there by import path (``"_net_agents:NetPonger"``), with this
folder on the child's ``PYTHONPATH``; it imports nothing else of the benchmarks but
:mod:`_messages`, so that the child starts quickly and both sides know the same tags.
"""

from __future__ import annotations

from _messages import Ping

from triomas import Agent, on


class NetPonger(Agent):
    """Answers a :class:`Ping` with ``n + 1`` (a sync handler: the reply is immediate)."""

    @on(Ping)
    def ping(self, msg: Ping) -> int:
        return msg.n + 1


class NetSink(Agent):
    """Counts the :class:`Ping` tells it gets; answers an ask of ``Ping(-1)`` with the
    count (after every tell sent before it, by the per-pair order)."""

    def __init__(self) -> None:
        self.count = 0

    @on(Ping)
    def ping(self, msg: Ping) -> int:
        if msg.n >= 0:
            self.count += 1
        return self.count
