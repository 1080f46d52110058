"""triomas simulators in real mosaik Worlds, started the three ways mosaik starts them.

Plain synchronous tests: mosaik runs its own asyncio loop. The simulators are those of
``mosaik_sims.py``, in child processes (``python -m triomas mosaik``, mosaik's ``cmd``
starter), behind ``--listen`` (its ``connect`` starter) or in this process (its
``python`` starter). mosaik 3.6 has a race of its own with an event-based simulator fed
by a hybrid one while unrelated simulators step (``cannot progress backwards``, with
simulators written on mosaik_api_v3 as well; 3.7 has it fixed): each World here keeps to
one chain. They pass with mosaik 3.6 on Python 3.11 and 3.7 on 3.12.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

mosaik = pytest.importorskip("mosaik")

HERE = Path(__file__).resolve().parent
ENV = {"PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)}


def cmd(target: str, *options: str) -> dict[str, Any]:
    """mosaik's ``cmd`` starter for the triomas simulator ``target``."""
    return {
        "cmd": " ".join(["%(python)s -m triomas mosaik", target, "%(addr)s", *options]),
        "env": ENV,
    }


CONFIG = {
    "Input": {"python": "mosaik.basic_simulators:InputSimulator"},
    "Output": {"python": "mosaik.basic_simulators:OutputSimulator"},
    "Summing": cmd("mosaik_sims:summing"),
    "Alarms": cmd("mosaik_sims:alarms"),
    "AlarmsAhead": cmd("mosaik_sims:alarms_ahead"),
    "Left": cmd("mosaik_sims:left"),
    "Right": cmd("mosaik_sims:right"),
    "InProcess": {"python": "mosaik_sims:summing"},
    "Asking": {"python": "mosaik_sims:asking"},
    "Pushing": cmd("mosaik_sims:pushing"),
}


def _children() -> set[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            text = (task / "children").read_text()
        except FileNotFoundError:  # a thread that ended meanwhile: its children moved on
            continue
        pids.update(int(pid) for pid in text.split())
    return pids


@pytest.fixture(autouse=True)
def _no_child_left() -> Iterator[None]:
    if not Path("/proc/self/task").exists():
        pytest.skip("counts child processes through /proc")
    before = _children()
    yield
    assert _children() == before, "a simulator process is still running"


@contextmanager
def world(config: dict[str, Any] | None = None) -> Iterator[Any]:
    with mosaik.World(config or CONFIG, skip_greetings=True, configure_logging=False) as w:
        yield w


def _by_time(got: dict[int, Any], attr: str, full_id: str) -> dict[int, Any]:
    return {t: values[attr][full_id] for t, values in got.items()}


def _summing_world(config: dict[str, Any], name: str) -> dict[int, Any]:
    with world(config) as w:
        source = w.start("Input", step_size=1).Function(function=lambda t: 2 * t)
        summer = w.start(name, step_size=1).Summer()
        sink_sim = w.start("Output")
        sink = sink_sim.Dict()
        w.connect(source, summer, ("value", "x"))
        w.connect(summer, sink, "total")
        w.run(until=6, print_progress=False)
        return _by_time(sink_sim.get_dict(sink.eid), "total", summer.full_id)


def test_a_time_based_world_feeds_a_triomas_model_and_reads_its_outputs() -> None:
    # InputSimulator gives 2t at every step; the agent's running sum goes to the sink
    got = _summing_world(CONFIG, "Summing")
    assert got == {0: 0.0, 1: 2.0, 2: 6.0, 3: 12.0, 4: 20.0, 5: 30.0}


def test_the_python_starter_runs_the_same_simulator_in_mosaiks_process() -> None:
    assert _summing_world(CONFIG, "InProcess") == {
        0: 0.0,
        1: 2.0,
        2: 6.0,
        3: 12.0,
        4: 20.0,
        5: 30.0,
    }


def test_the_connect_starter_reaches_a_simulator_listening_with_listen() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triomas",
            "mosaik",
            "mosaik_sims:summing",
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening at 127.0.0.1:"), line
        config = {**CONFIG, "Listening": {"connect": line.removeprefix("listening at ")}}
        got = _summing_world(config, "Listening")
        assert got == {0: 0.0, 1: 2.0, 2: 6.0, 3: 12.0, 4: 20.0, 5: 30.0}
        assert proc.wait(timeout=10) == 0  # a guard: it ends once mosaik has stopped it
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _alarm_world(name: str, times: list[int], until: int, **params: Any) -> tuple[Any, Any]:
    with world() as w:
        factory = w.start(name)
        alarmer = factory.Alarmer(times=times, **params)
        sink_sim = w.start("Output")
        sink = sink_sim.Dict()
        w.connect(alarmer, sink, "fired")
        w.run(until=until, print_progress=False)
        got = _by_time(sink_sim.get_dict(sink.eid), "fired", alarmer.full_id)
        return got, factory.log()


def test_a_hybrid_simulator_is_stepped_exactly_at_its_agents_alarms() -> None:
    got, log = _alarm_world("Alarms", [3, 7], until=10)
    assert log["steps"] == [0, 3, 7]  # stepped at 0, then only when an alarm is due
    assert got == {3: 3, 7: 7}
    got, log = _alarm_world("Alarms", [3, 12], until=10)
    assert (log["steps"], got) == ([0, 3], {3: 3})  # no step at or after until


def test_run_ahead_turns_many_internal_events_into_one_round_trip() -> None:
    # a quiet alarm every second from 1 to 20 changes no output; a loud one at 20 does
    stepwise, log = _alarm_world("Alarms", [20], until=30, quiet=1)
    assert (stepwise, log["quiet"], len(log["steps"])) == ({20: 20}, 20, 21)
    ahead, log = _alarm_world("AlarmsAhead", [20], until=30, quiet=1)
    assert (ahead, log["quiet"]) == ({20: 20}, 20)
    assert log["steps"] == [0]  # one step: the output at 20 came with its own time


def _crashing_world() -> dict[int, Any]:
    with world() as w:
        source = w.start("Input", step_size=1).Function(function=lambda t: 2 * t)
        summer = w.start("Summing", step_size=1).Summer(breaks_at=6)
        sink_sim = w.start("Output")
        sink = sink_sim.Dict()
        w.connect(source, summer, ("value", "x"))
        w.connect(summer, sink, "total")
        w.run(until=10, print_progress=False)
        return _by_time(sink_sim.get_dict(sink.eid), "total", summer.full_id)


def test_a_crash_in_a_handler_ends_the_world_with_the_agents_traceback() -> None:
    from loguru import logger

    logged: list[str] = []
    logger.enable("mosaik")
    handler = logger.add(lambda message: logged.append(str(message)), level="ERROR")
    try:
        got = _crashing_world()
    finally:
        logger.remove(handler)
        logger.disable("mosaik")
        # mosaik leaves the other simulators' tasks pending when one fails; collected
        # here, their "Task was destroyed but it is pending!" lines land in this test's
        # captured log instead of on stderr at the end of the session
        gc.collect()
    assert got == {0: 0.0, 1: 2.0, 2: 6.0}  # the World ended at the crash, at t=3
    [report] = [line for line in logged if "aborted the simulation" in line]
    assert "ValueError(agent Summer_0 crashed at t=3: ValueError: x=6 is too much for me)" in report
    assert 'raise ValueError(f"x={x} is too much for me")' in report  # the agent's traceback


def _dice_world(tmp: Path, name: str, seed: int) -> tuple[bytes, dict[int, Any]]:
    trace = tmp / f"{name}.jsonl"
    config = {**CONFIG, "Dice": cmd("mosaik_sims:dice", "--seed", str(seed), "--trace", str(trace))}
    with world(config) as w:
        dice = w.start("Dice").Dice.create(2)
        sink_sim = w.start("Output")
        sink = sink_sim.Dict()
        w.connect(dice[0], sink, "roll")
        w.run(until=20, print_progress=False)
        got = _by_time(sink_sim.get_dict(sink.eid), "roll", dice[0].full_id)
    return trace.read_bytes(), got


def test_the_same_seed_gives_the_same_trace_byte_for_byte(tmp_path: Path) -> None:
    first, rolls = _dice_world(tmp_path, "first", seed=7)
    second, again = _dice_world(tmp_path, "second", seed=7)
    other, _ = _dice_world(tmp_path, "other", seed=8)
    assert first == second
    assert rolls == again
    assert len(first.splitlines()) > 80  # 20 steps, two agents, their messages
    assert other != first  # the seed is what decides


def test_agents_ask_mosaik_from_a_handler_in_mosaiks_process() -> None:
    with world() as w:
        factory = w.start("Asking")
        agent = factory.Progress()
        sink_sim = w.start("Output")
        sink = sink_sim.Dict()
        w.connect(agent, sink, "progress")
        w.run(until=4, print_progress=False)
        got = _by_time(sink_sim.get_dict(sink.eid), "progress", agent.full_id)
    assert set(got) == {0, 1, 2, 3}
    assert all(0 <= value <= 100 for value in got.values())
    assert got[3] > got[0]


def test_agents_ask_mosaik_over_the_wire_and_get_its_refusals() -> None:
    with world() as w:
        factory = w.start("Pushing")
        pusher = factory.Pusher()
        sink_sim = w.start("Output")
        sink = sink_sim.Dict()
        with warnings.catch_warnings():  # mosaik deprecates async_requests itself
            warnings.simplefilter("ignore", DeprecationWarning)
            w.connect(pusher, sink, "out", async_requests=True)
        w.run(until=3, print_progress=False)
        got = _by_time(sink_sim.get_dict(sink.eid), "out", pusher.full_id)
        log = factory.log()
    assert got == {0: 0, 1: 1, 2: 2}
    assert log["related"] == [sink.full_id]
    # set_data to the sink needs a connection from it back: mosaik says so, in the agent
    assert (
        log["refused"]
        == [
            "ScenarioError: No connection from Output-0 to Pushing-0: You need to connect "
            "entities from both simulators and set `async_requests=True`."
        ]
        * 3
    )


def test_containers_talk_through_mosaik_in_mangos_style() -> None:
    # Each container is a simulator with a post; its messages to the other container
    # travel through mosaik as data (a network simulator could sit in between).
    with world() as w:
        left = w.start("Left", sim_id="Left")
        right = w.start("Right", sim_id="Right")
        left_post, right_post = left.Post(), right.Post()
        left.Pinger(peer="Right")
        right.Ponger()
        w.connect(left_post, right_post, ("outbox", "inbox"))
        w.connect(
            right_post,
            left_post,
            ("outbox", "inbox"),
            time_shifted=True,
            initial_data={"outbox": []},
        )
        w.run(until=8, print_progress=False)
        answers = left.answers()
    # each ask goes out at t, is answered by the ponger at t, and is back one tick later
    # (the connection back is time-shifted)
    assert answers == [[0, 0, 1], [1, 10, 2], [2, 20, 3]]
