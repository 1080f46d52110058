"""A 1 000-step mosaik World: mosaik's InputSimulator feeds one simulator, whose output goes
to mosaik's OutputSimulator; the simulator is triomas' (``_mosaik_peer.summing``) or the
same written on ``mosaik_api_v3``, started in a child process (``cmd``) or in mosaik's own
(``python``). Only ``world.run`` is timed (starting the simulators is not). Beside the
steps per second: the share of the World's time spent waiting on the simulator's ``step``
and ``get_data`` (the wire included, for ``cmd``), and those calls' time per step.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from _harness import Sample, Workload, clock

HERE = Path(__file__).resolve().parent

try:
    import mosaik.simmanager  # binds mosaik too
except ImportError as exc:  # pragma: no cover - optional peer
    mosaik = None
    MOSAIK_MISSING: str | None = f"mosaik does not import: {exc} (install the mosaik extra)"
else:
    MOSAIK_MISSING = None


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


STARTERS: dict[str, Any] = {
    "triomas-cmd": {
        "cmd": "%(python)s -m triomas mosaik _mosaik_peer:summing %(addr)s",
        "env": _env(),
    },
    "mosaik-api-v3-cmd": {"cmd": f"%(python)s {HERE / '_mosaik_peer.py'} %(addr)s", "env": _env()},
    "floor-socket-cmd": {"cmd": f"%(python)s {HERE / '_mosaik_floor.py'} %(addr)s", "env": _env()},
    "triomas-python": {"python": "_mosaik_peer:summing"},
    "mosaik-api-v3-python": {"python": "_mosaik_peer:ApiSummer"},
}


def _ramp(t: int) -> float:
    return float(t % 7)


@contextmanager
def _timed_calls(sid: str) -> Iterator[dict[str, float]]:
    """Time the ``step`` and ``get_data`` calls mosaik makes to simulator ``sid``."""
    runner = mosaik.simmanager.SimRunner
    spent = {"seconds": 0.0, "calls": 0}
    originals = {name: getattr(runner, name) for name in ("step", "get_data")}

    def wrap(name: str) -> Any:
        original = originals[name]

        async def timed(self: Any, *args: Any) -> Any:
            if self.sid != sid:
                return await original(self, *args)
            start = clock()
            try:
                return await original(self, *args)
            finally:
                spent["seconds"] += clock() - start
                spent["calls"] += 1

        return timed

    for name in originals:
        setattr(runner, name, wrap(name))
    try:
        yield spent
    finally:
        for name, original in originals.items():
            setattr(runner, name, original)


def world_steps(impl: str, steps: int) -> Sample:
    """One World of ``steps`` steps with the simulator ``impl`` (see ``STARTERS``)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))  # the python starter imports _mosaik_peer
    config = {
        "Input": {"python": "mosaik.basic_simulators:InputSimulator"},
        "Sim": STARTERS[impl],
        "Output": {"python": "mosaik.basic_simulators:OutputSimulator"},
    }
    with mosaik.World(config, skip_greetings=True, configure_logging=False) as world:
        source = world.start("Input", step_size=1).Function(function=_ramp)
        summer = world.start("Sim", sim_id="Sim", step_size=1).Summer()
        recorder = world.start("Output")
        sink = recorder.Dict()
        world.connect(source, summer, ("value", "x"))
        world.connect(summer, sink, "total")
        with _timed_calls("Sim") as spent:
            start = clock()
            world.run(until=steps, print_progress=False)
            seconds = clock() - start
        got = recorder.get_dict(sink.eid)
    expected = sum(_ramp(t) for t in range(steps))
    if got[steps - 1]["total"][summer.full_id] != expected:
        raise AssertionError(f"{impl}: the World summed to {got[steps - 1]}, not {expected}")
    return Sample(
        steps,
        seconds,
        {
            "sim_share": round(spent["seconds"] / seconds, 3),
            "sim_us_per_step": round(spent["seconds"] / steps * 1e6, 1),
        },
    )


HOW = {
    "triomas-cmd": "python -m triomas mosaik _mosaik_peer:summing %(addr)s (mosaik's cmd starter)",
    "mosaik-api-v3-cmd": "the same simulator on mosaik_api_v3, start_simulation (cmd starter)",
    "floor-socket-cmd": "the same sum answered by a blocking socket loop, no event loop at all "
    "(cmd starter): the floor of a cmd simulator",
    "triomas-python": "_mosaik_peer:summing in mosaik's process (its python starter)",
    "mosaik-api-v3-python": "the mosaik_api_v3 class in mosaik's process (python starter)",
}


def mosaik_groups(steps: int, reps: int) -> dict[str, tuple[int, list[Workload]]]:
    """The ``mosaik_world`` benchmark: one World per repetition and implementation (none
    without mosaik; ``run.py`` then says it was skipped)."""
    if MOSAIK_MISSING is not None:
        return {}
    workloads = [
        Workload(
            "mosaik_world",
            impl,
            "steps_per_s",
            partial(world_steps, impl, steps),
            {
                "steps": steps,
                "how": how,
                "world": "InputSimulator -> the simulator -> OutputSimulator, step_size 1",
                "timed": "world.run only; sim_share: the part of it mosaik waited on the "
                "simulator's step and get_data (the wire included)",
            },
        )
        for impl, how in HOW.items()
    ]
    return {"mosaik_world": (reps, workloads)}
