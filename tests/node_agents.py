"""Agents that tests spawn in child-process nodes, by import path ``node_agents:Name``."""

from __future__ import annotations

from triomas import Agent, Envelope, message, on


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


@message(tag="node.GridPing")
class GridPing:
    """A ping of the ping-pong grid, numbered by its sender."""

    n: int


@message(tag="node.GridPong")
class GridPong:
    """The answer to a :class:`GridPing`."""

    n: int


@message(tag="node.PingAll")
class PingAll:
    """Ping every one of ``everyone`` (addresses); the answer is sent at once."""

    everyone: list[str]


@message(tag="node.Pongs")
class Pongs:
    """How many pongs came back, from whom (the answer to an ask)."""


class GridPlayer(Agent):
    """mango's ping-pong grid: pings every agent of the grid, answers every ping, and
    counts the pongs by sender."""

    def __init__(self) -> None:
        self.pongs: set[tuple[str, int]] = set()

    @on(PingAll)
    def ping_all(self, msg: PingAll) -> None:
        for n, address in enumerate(msg.everyone):
            self.send(address, GridPing(n))

    @on(GridPing)
    def ping(self, msg: GridPing, env: Envelope) -> None:
        assert env.sender is not None
        self.send(env.sender, GridPong(msg.n))

    @on(GridPong)
    def pong(self, msg: GridPong, env: Envelope) -> None:
        assert env.sender is not None
        self.pongs.add((env.sender.address, msg.n))

    @on(Pongs)
    def count(self, msg: Pongs) -> list[list[object]]:
        return sorted([address, n] for address, n in self.pongs)


@message(tag="node.Tick")
class Tick:
    pass


class Ticker(Agent):
    """Ticks every clock second for ever; says how far it got when it stops."""

    def setup(self) -> None:
        self.ticks = 0
        self.set_alarm(Tick(), after=1.0)

    @on(Tick)
    def tick(self, msg: Tick) -> None:
        self.ticks += 1
        self.set_alarm(Tick(), after=1.0)

    def teardown(self) -> None:
        print(f"ticker: {self.ticks} ticks, then teardown")


async def tick_for_ever() -> None:
    """A program that never ends by itself (``triomas run ... --until T`` ends it)."""
    import triomas

    async with triomas.open_container() as c:
        await c.spawn(Ticker, name="ticker")
        await c.run()
