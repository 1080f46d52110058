"""The triomas simulators the mosaik tests start (by import path, in child processes)."""

from __future__ import annotations

from triomas import Agent, message, on
from triomas.mosaik import Inputs, Model, Simulator


class Summer(Agent):
    """Adds up its input ``x``; ``total`` is the running sum."""

    def __init__(self) -> None:
        self.total = 0.0

    @on(Inputs)
    def add(self, msg: Inputs) -> None:
        self.total += msg.sum("x")


summing = Simulator([Model(Summer, inputs=["x"], outputs=["total"])], kind="time-based")


@message
class Ring:
    n: int


class Alarmer(Agent):
    """Sets an alarm at each of ``times``; ``fired`` reports the time of the last one."""

    def __init__(self, times: list[int]) -> None:
        self.times = times
        self.fired: float | None = None

    def setup(self) -> None:
        for n, t in enumerate(self.times):
            self.set_alarm(Ring(n), at=t)

    @on(Ring)
    def ring(self, msg: Ring) -> None:
        self.fired = self.clock.now()


alarms = Simulator([Model(Alarmer, outputs=["fired"], non_persistent=["fired"])])
