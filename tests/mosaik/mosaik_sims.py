"""The triomas simulators the mosaik World tests start by import path (in child processes
through ``python -m triomas mosaik``, or in mosaik's own process)."""

from __future__ import annotations

from typing import Any

import triomas
from triomas import Agent, RemoteError, message, on
from triomas.mosaik import Inputs, Model, Simulator, mosaik_of


class Summer(Agent):
    """Adds up its input ``x``; ``total`` is the running sum. It breaks (on purpose)
    when ``x`` reaches ``breaks_at``."""

    def __init__(self, breaks_at: float | None = None) -> None:
        self.breaks_at = breaks_at
        self.total = 0.0

    @on(Inputs)
    def add(self, msg: Inputs) -> None:
        x = msg.sum("x")
        if self.breaks_at is not None and x >= self.breaks_at:
            raise ValueError(f"x={x} is too much for me")
        self.total += x


summing = Simulator([Model(Summer, inputs=["x"], outputs=["total"])], kind="time-based")


@message(tag="mosaik_sims.Ring")
class Ring:
    loud: bool


class Alarmer(Agent):
    """Rings at each of ``times`` (``fired``, an event, says when); in between, a quiet
    alarm every ``quiet`` seconds changes nothing. ``steps`` lists the ticks of the steps
    mosaik made (it gets an Inputs message each step)."""

    def __init__(self, times: list[int], quiet: float | None = None) -> None:
        self.times = times
        self.quiet = quiet
        self.fired: float | None = None
        self.steps: list[int] = []
        self.quiet_alarms = 0

    def setup(self) -> None:
        for t in self.times:
            self.set_alarm(Ring(True), at=t)
        if self.quiet is not None:
            self.set_alarm(Ring(False), after=self.quiet)

    @on(Ring)
    def ring(self, msg: Ring) -> None:
        if msg.loud:
            self.fired = self.clock.now()
            return
        self.quiet_alarms += 1
        if self.quiet is not None and self.clock.now() + self.quiet <= max(self.times):
            self.set_alarm(Ring(False), after=self.quiet)

    @on(Inputs)
    def step(self, msg: Inputs) -> None:
        self.steps.append(msg.tick)


def _alarmer_log(container: triomas.Container) -> dict[str, Any]:
    agent = container.agent("Alarmer_0", Alarmer)
    return {"steps": agent.steps, "quiet": agent.quiet_alarms}


_ALARMER = Model(Alarmer, outputs=["fired"], non_persistent=["fired"], every_step=True)
alarms = Simulator([_ALARMER], run_ahead=False, extra_methods={"log": _alarmer_log})
alarms_ahead = Simulator([_ALARMER], extra_methods={"log": _alarmer_log})


@message(tag="mosaik_sims.Rolled")
class Rolled:
    value: int


class Dice(Agent):
    """Draws a number from its seeded random generator every step, and tells a friend."""

    def __init__(self) -> None:
        self.roll = 0

    def setup(self) -> None:
        self.friend = f"Dice_{1 - int(self.name[-1])}"

    @on(Inputs)
    def step(self, msg: Inputs) -> None:
        self.roll = self.random.randint(1, 6)
        self.send(self.friend, Rolled(self.roll))

    @on(Rolled)
    def rolled(self, msg: Rolled) -> None:
        self.roll += msg.value


dice = Simulator(
    [Model(Dice, outputs=["roll"], every_step=True)], kind="time-based", step_size=1, seed=1
)


class Progress(Agent):
    """Asks mosaik how far the World is, at every step."""

    def __init__(self) -> None:
        self.progress: float | None = None

    @on(Inputs)
    async def step(self, msg: Inputs) -> None:
        self.progress = await mosaik_of(self).get_progress()


asking = Simulator(
    [Model(Progress, outputs=["progress"], every_step=True)], kind="time-based", step_size=1
)


# ---- mango's style: two containers, messages through mosaik -----------------------------


@message(tag="mosaik_sims.Ping")
class Ping:
    n: int


class Ponger(Agent):
    @on(Ping)
    def ping(self, msg: Ping) -> int:
        return msg.n * 10


class Pinger(Agent):
    """Asks the ponger of container ``peer`` three times; ``answers`` lists
    ``[n, answer, clock time]``."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.answers: list[list[float]] = []

    def setup(self) -> None:
        self.start_task(self.play)

    async def play(self) -> None:
        for n in range(3):
            answer = await self.ask(f"local://{self.peer}/Ponger_0", Ping(n), timeout=5)
            self.answers.append([n, answer, self.clock.now()])


left = Simulator(
    [Model(Pinger, outputs=["answers"])],
    kind="time-based",
    step_size=1,
    post=True,
    extra_methods={"answers": lambda c: c.agent("Pinger_0", Pinger).answers},
)
right = Simulator([Ponger], kind="time-based", step_size=1, post=True)


class Pusher(Agent):
    """Each step: asks mosaik for its related entities, and tries to push ``tick * 10`` to
    them with ``set_data``; ``out`` is the tick, ``refused`` what mosaik said."""

    def __init__(self) -> None:
        self.out = -1
        self.related: list[str] = []
        self.refused: list[str] = []

    @on(Inputs)
    async def step(self, msg: Inputs) -> None:
        link = mosaik_of(self)
        related = await link.get_related_entities()
        self.related = sorted(related)
        try:
            await link.set_data({link.full_id: {d: {"pushed": msg.tick * 10} for d in related}})
        except RemoteError as exc:
            self.refused.append(f"{exc.type_name}: {exc.message}")
        self.out = msg.tick


def _pusher(container: triomas.Container) -> dict[str, Any]:
    agent = container.agent("Pusher_0", Pusher)
    return {"related": agent.related, "refused": agent.refused}


pushing = Simulator(
    [Model(Pusher, outputs=["out"], every_step=True)],
    kind="time-based",
    step_size=1,
    run_ahead=False,  # the requests within mosaik's step
    extra_methods={"log": _pusher},
)
