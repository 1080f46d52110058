"""The simulator of the mosaik benchmark, twice: as a triomas ``Simulator`` (``summing``)
and written on ``mosaik_api_v3`` (``ApiSummer``; run as a script, it is the ``cmd``
starter's process). One model, ``Summer``: it adds up its input ``x``; ``total`` is the
running sum."""

from __future__ import annotations

from typing import Any

import mosaik_api_v3

from triomas import Agent, on
from triomas.mosaik import Inputs, Model, Simulator


class Summer(Agent):
    def __init__(self) -> None:
        self.total = 0.0

    @on(Inputs)
    def add(self, msg: Inputs) -> None:
        self.total += msg.sum("x")


summing = Simulator([Model(Summer, inputs=["x"], outputs=["total"])], kind="time-based", seed=1)

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {"Summer": {"public": True, "params": [], "attrs": ["x", "total"]}},
}


class ApiSummer(mosaik_api_v3.Simulator):  # type: ignore[misc]
    """The same simulator, the way mosaik's own API writes it."""

    def __init__(self) -> None:
        super().__init__(META)
        self.totals: dict[str, float] = {}
        self.step_size = 1

    def init(self, sid: str, time_resolution: float = 1.0, step_size: int = 1) -> Any:
        self.step_size = step_size
        return self.meta

    def create(self, num: int, model: str) -> list[dict[str, str]]:
        start = len(self.totals)
        eids = [f"Summer_{n}" for n in range(start, start + num)]
        for eid in eids:
            self.totals[eid] = 0.0
        return [{"eid": eid, "type": model} for eid in eids]

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        for eid, attrs in inputs.items():
            self.totals[eid] += sum(attrs.get("x", {}).values())
        return time + self.step_size

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, Any]:
        return {eid: {"total": self.totals[eid]} for eid in outputs}


if __name__ == "__main__":
    mosaik_api_v3.start_simulation(ApiSummer())
