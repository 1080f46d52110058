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


class Relay(Agent):
    """Answers a :class:`Number` with what the agent at ``target`` answers it."""

    def __init__(self, target: str) -> None:
        self.target = target

    @on(Number)
    async def number(self, msg: Number) -> int:
        answer: int = await self.ask(self.target, msg, timeout=10)
        return answer


@message(tag="node.Add")
class Add:
    """Two numbers to add."""

    a: int
    b: int


class Adder(Agent):
    """Answers an :class:`Add` with the sum; says so on stdout when its teardown runs."""

    @on(Add)
    def add(self, msg: Add) -> int:
        return msg.a + msg.b

    def teardown(self) -> None:
        print("adder: teardown ran", flush=True)
