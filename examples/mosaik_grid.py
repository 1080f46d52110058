"""Agents that control loads on a feeder, as a simulator of a mosaik co-simulation.

    pip install mosaik && python examples/mosaik_grid.py

Three households draw power from one feeder, which carries at most 10 kW. mosaik's
``InputSimulator`` plays the households' demand; a triomas container, started by
mosaik as a child process (``python -m triomas mosaik mosaik_grid:controllers
%(addr)s``), holds one ``LoadController`` agent per household and a ``Feeder`` agent.
At every step of the World (15 minutes), each controller tells the feeder what its
household wants; when the sum is over the limit, the feeder gives each a share in
proportion, and the controllers draw that much. They settle it among themselves in
the step, in virtual time; mosaik's ``OutputSimulator`` records what they drew.
Every run prints the same thing.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, cast

from triomas import Agent, Envelope, message, on
from triomas.mosaik import Inputs, Model, Simulator

LIMIT_KW = 10.0
STEP = 15  # ticks (minutes) per step
UNTIL = 8 * STEP


@message(tag="grid.Join")
class Join:
    """A controller joins its feeder."""


@message(tag="grid.Demand")
class Demand:
    """What a household wants now, in kW."""

    tick: int
    kw: float


@message(tag="grid.Allowance")
class Allowance:
    """What a household may draw now, in kW."""

    kw: float


class Feeder(Agent):
    """Shares the feeder's capacity among the controllers that joined it."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.members: list[str] = []
        self.demands: dict[str, float] = {}
        self.total = 0.0

    @on(Join)
    def join(self, msg: Join, env: Envelope) -> None:
        assert env.sender is not None
        self.members.append(env.sender.name)

    @on(Demand)
    def demand(self, msg: Demand, env: Envelope) -> None:
        assert env.sender is not None
        self.demands[env.sender.name] = msg.kw
        if len(self.demands) < len(self.members):
            return  # the others have not spoken yet for this step
        wanted = sum(self.demands.values())
        scale = min(1.0, self.limit / wanted) if wanted else 1.0
        for member, kw in sorted(self.demands.items()):
            self.send(member, Allowance(round(kw * scale, 3)))
        self.total = round(wanted * scale, 3)
        self.demands.clear()


class LoadController(Agent):
    """Asks the feeder for its household's demand, and draws what it is allowed."""

    def __init__(self) -> None:
        self.p = 0.0

    def setup(self) -> None:
        self.send("Feeder_0", Join())

    @on(Inputs)
    def step(self, msg: Inputs) -> None:
        self.send("Feeder_0", Demand(msg.tick, msg.first("demand", 0.0)))

    @on(Allowance)
    def allowed(self, msg: Allowance) -> None:
        self.p = msg.kw


controllers = Simulator(
    [
        Model(Feeder, outputs=["total"]),
        Model(LoadController, inputs=["demand"], outputs=["p"]),
    ],
    kind="time-based",
    step_size=STEP,
    seed=1,
)
"""The triomas simulator mosaik starts (it imports this module by name)."""


def household(base: float, peak: float, at: int) -> Any:
    """A demand profile: ``base`` kW, and ``peak`` kW more around minute ``at``."""
    return lambda t: round(base + peak * math.exp(-(((t - at) / 30) ** 2)), 2)


def main() -> None:
    import mosaik

    here = Path(__file__).resolve().parent
    path = os.pathsep.join(p for p in (str(here), os.environ.get("PYTHONPATH")) if p)
    config: dict[str, Any] = {
        "Demand": {"python": "mosaik.basic_simulators:InputSimulator"},
        "Controllers": {
            "cmd": "%(python)s -m triomas mosaik mosaik_grid:controllers %(addr)s",
            "env": {"PYTHONPATH": path},
        },
        "Recorder": {"python": "mosaik.basic_simulators:OutputSimulator"},
    }
    with mosaik.World(
        config, time_resolution=60.0, skip_greetings=True, configure_logging=False
    ) as world:
        demand = world.start("Demand", step_size=STEP)
        profiles = [household(2.0, 3.0, 45), household(3.0, 4.0, 60), household(1.5, 2.5, 75)]
        sources = [demand.Function(function=f) for f in profiles]
        grid = world.start("Controllers")
        feeder = grid.Feeder(limit=LIMIT_KW)
        loads = grid.LoadController.create(len(sources))
        recorder = world.start("Recorder")
        log = recorder.Dict()
        for source, load in zip(sources, loads, strict=True):
            world.connect(source, load, ("value", "demand"))
            world.connect(load, log, "p")
        world.connect(feeder, log, "total")
        world.run(until=UNTIL, print_progress=False)
        got = cast("dict[int, dict[str, dict[str, float]]]", recorder.get_dict(log.eid))

    print(f"a feeder of {LIMIT_KW} kW, three households, a step every {STEP} minutes")
    for tick, values in sorted(got.items()):
        wanted = [round(f(tick), 2) for f in profiles]
        drawn = [values["p"][load.full_id] for load in loads]
        total = values["total"][feeder.full_id]
        flag = "  (curtailed)" if sum(wanted) > LIMIT_KW else ""
        print(f"t={tick:3d} min  wanted {wanted} kW  drew {drawn} kW  feeder {total} kW{flag}")


if __name__ == "__main__":
    main()
