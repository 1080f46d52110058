"""Agents that tests spawn in child-process nodes, by import path ``node_agents:Name``."""

from __future__ import annotations

from triomas import Agent, message, on


@message(tag="node.Number")
class Number:
    """A number to double."""

    n: int


class Doubler(Agent):
    """Answers a :class:`Number` with it times ``factor``."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    @on(Number)
    def number(self, msg: Number) -> int:
        return msg.n * self.factor
