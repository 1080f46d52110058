"""The simulator's side of mosaik's protocol, against a fake mosaik on in-memory streams:
framing and its limits, the calls, time, events, run-ahead, the simulator's own requests
to mosaik, and errors. These need no mosaik; the World tests are beside them."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from triomas import Agent, ProtocolError, RemoteError, message, on
from triomas._net.wire import FrameDecoder
from triomas.mosaik import Inputs, Model, Simulator, mosaik_of, serve

REQUEST, SUCCESS, FAILURE = 0, 1, 2


class FakeMosaik:
    """mosaik's end of one connection, frame by frame."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.decoder = FrameDecoder(1 << 30)
        self.frames: list[list[Any]] = []
        self.next_id = 0

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send(self, kind: int, msg_id: int, content: Any) -> None:
        body = json.dumps([kind, msg_id, content]).encode()
        await self.send_raw(struct.pack(">I", len(body)) + body)

    async def receive(self) -> list[Any]:
        while not self.frames:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("the simulator closed the connection")
            self.frames += [json.loads(p) for p in self.decoder.feed(data)]
        return self.frames.pop(0)

    async def request(self, func: str, *args: Any, **kwargs: Any) -> int:
        msg_id = self.next_id
        self.next_id += 1
        await self.send(REQUEST, msg_id, [func, list(args), kwargs])
        return msg_id

    async def call(self, func: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``func``; its result (AssertionError with the failure if it failed)."""
        msg_id = await self.request(func, *args, **kwargs)
        kind, got_id, content = await self.receive()
        assert got_id == msg_id
        assert kind == SUCCESS, content
        return content

    async def failing(self, func: str, *args: Any, **kwargs: Any) -> list[str]:
        """Call ``func``, which must fail; the failure's content."""
        msg_id = await self.request(func, *args, **kwargs)
        kind, got_id, content = await self.receive()
        assert (kind, got_id) == (FAILURE, msg_id), content
        return list(content)


@asynccontextmanager
async def simulator(sim: Simulator) -> AsyncIterator[FakeMosaik]:
    """``sim`` served on one end of a stream pair, the fake mosaik on the other."""
    ours, theirs = trio.testing.memory_stream_pair()
    with trio.fail_after(10):  # a guard against a hang, not a wait
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve, sim, theirs)
            yield FakeMosaik(ours)
            nursery.cancel_scope.cancel()


# ---- the simulators ----------------------------------------------------------------------


class Doubler(Agent):
    def __init__(self, factor: int = 2) -> None:
        self.factor = factor
        self.out: float | None = None
        self.seen: list[float] = []

    @on(Inputs)
    def inputs(self, msg: Inputs) -> None:
        self.seen.append(msg.time)
        self.out = self.factor * msg.sum("x")


@message(tag="mosaik_protocol.Beep")
class Beep:
    n: int


class Beeper(Agent):
    """Beeps at the given times; ``beep`` is an event; ``quiet`` alarms change nothing."""

    def __init__(self, at: list[float], quiet: list[float] | None = None) -> None:
        self.at = at
        self.quiet = quiet or []
        self.beep: float | None = None
        self.level = 0
        self.heard: list[tuple[float, str]] = []

    def setup(self) -> None:
        for t in self.at:
            self.set_alarm(Beep(1), at=t)
        for t in self.quiet:
            self.set_alarm(Beep(0), at=t)

    @on(Beep)
    def on_beep(self, msg: Beep) -> None:
        self.heard.append((self.clock.now(), "alarm"))
        if msg.n:
            self.beep = self.clock.now()

    @on(Inputs)
    def inputs(self, msg: Inputs) -> None:
        self.heard.append((msg.time, "input"))
        self.level = msg.first("level", 0)


EVENTS_ONLY = Simulator([Model(Beeper, outputs=["beep"], non_persistent=["beep"])])
DOUBLING = Simulator([Model(Doubler, inputs=["x"], outputs=["out"])], kind="time-based")
BEEPING = Simulator(
    [Model(Beeper, inputs=["level"], outputs=["beep", "level"], non_persistent=["beep"])],
    extra_methods={"heard": lambda c: c.agent("Beeper_0", Beeper).heard},
)


async def test_init_answers_the_meta_and_create_spawns_agents_named_by_model() -> None:
    async with simulator(DOUBLING) as mosaik:
        meta = await mosaik.call("init", "Sim-0", time_resolution=1.0, step_size=2)
        assert meta == {
            "api_version": "3.0",
            "type": "time-based",
            "models": {"Doubler": {"public": True, "params": ["factor"], "attrs": ["x", "out"]}},
            "extra_methods": [],
        }
        assert await mosaik.call("create", 2, "Doubler", factor=3) == [
            {"eid": "Doubler_0", "type": "Doubler"},
            {"eid": "Doubler_1", "type": "Doubler"},
        ]
        assert await mosaik.call("create", 1, "Doubler") == [
            {"eid": "Doubler_2", "type": "Doubler"}
        ]
        assert await mosaik.call("setup_done") is None
        await mosaik.request("stop")
        with pytest.raises(EOFError):
            await mosaik.receive()  # no answer to stop: the simulator closes


async def test_a_time_based_step_hands_inputs_over_and_answers_time_plus_step() -> None:
    async with simulator(DOUBLING) as mosaik:
        await mosaik.call("init", "Sim-0", time_resolution=0.5, step_size=2)
        await mosaik.call("create", 1, "Doubler")
        for tick in (0, 2, 4):
            inputs = {"Doubler_0": {"x": {"In-0.a": tick, "In-0.b": 1}}}
            assert await mosaik.call("step", tick, inputs, 100) == tick + 2
            assert await mosaik.call("get_data", {"Doubler_0": ["out"]}) == {
                "Doubler_0": {"out": 2 * (tick + 1)}
            }
        # no input: nothing handed over, the output stays (a persistent one)
        assert await mosaik.call("step", 6, {}, 100) == 8
        assert await mosaik.call("get_data", {"Doubler_0": ["out"]}) == {"Doubler_0": {"out": 10}}


async def test_a_hybrid_step_answers_the_next_alarm_and_events_are_reported_once() -> None:
    sim = Simulator(BEEPING.models, run_ahead=False)
    async with simulator(sim) as mosaik:
        await mosaik.call("init", "Sim-0", time_resolution=1.0)
        await mosaik.call("create", 1, "Beeper", at=[3, 7.5], quiet=[5])
        assert await mosaik.call("step", 0, {}, 100) == 3
        assert await mosaik.call("get_data", {"Beeper_0": ["beep", "level"]}) == {
            "Beeper_0": {"level": 0}  # no beep yet: an event is left out
        }
        assert await mosaik.call("step", 3, {}, 100) == 5
        assert await mosaik.call("get_data", {"Beeper_0": ["beep"]}) == {"Beeper_0": {"beep": 3}}
        assert await mosaik.call("step", 5, {}, 100) == 8  # 7.5 s: the tick at or after it
        assert await mosaik.call("get_data", {"Beeper_0": ["beep"]}) == {"Beeper_0": {}}
        assert await mosaik.call("step", 8, {}, 100) is None
        assert await mosaik.call("get_data", {"Beeper_0": ["beep"]}) == {"Beeper_0": {"beep": 7.5}}


async def test_alarms_due_at_a_step_come_before_its_inputs() -> None:
    sim = Simulator(BEEPING.models, run_ahead=False)
    async with simulator(sim) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Beeper", at=[2])
        await mosaik.call("step", 0, {}, 100)
        await mosaik.call("step", 2, {"Beeper_0": {"level": {"Src-0.s": 9}}}, 100)
        assert await mosaik.call("get_data", {"Beeper_0": ["level"]}) == {"Beeper_0": {"level": 9}}


async def test_run_ahead_handles_internal_events_in_one_step_up_to_the_first_output() -> None:
    async with simulator(BEEPING) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Beeper", at=[6, 9], quiet=[1, 2, 3, 4])
        # the first step does not run ahead: the persistent 'level' is reported first
        assert await mosaik.call("step", 0, {}, 100) == 1
        assert await mosaik.call("get_data", {"Beeper_0": ["beep", "level"]}) == {
            "Beeper_0": {"level": 0}
        }
        # the quiet alarms at 1..4 change no output: they run in this step; the beep at 6
        # does, and is reported at its own time
        assert await mosaik.call("step", 1, {}, 100) == 9
        assert await mosaik.call("get_data", {"Beeper_0": ["beep", "level"]}) == {
            "Beeper_0": {"beep": 6, "level": 0},
            "time": 6,
        }
        # max_advance: mosaik promises no input before 8; the beep at 9 waits
        assert await mosaik.call("step", 7, {}, 7) == 9
        assert await mosaik.call("get_data", {"Beeper_0": ["beep", "level"]}) == {
            "Beeper_0": {"level": 0}
        }


async def test_run_ahead_stops_at_max_advance_so_inputs_come_first() -> None:
    async with simulator(BEEPING) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Beeper", at=[], quiet=[1, 2, 3, 4, 5, 6])
        assert await mosaik.call("step", 0, {}, 3) == 1
        await mosaik.call("get_data", {"Beeper_0": ["level"]})
        assert await mosaik.call("step", 1, {}, 3) == 4  # ran 1..3, stopped short of 4
        # nothing changed ahead: the outputs are reported at the step's own time
        assert await mosaik.call("get_data", {"Beeper_0": ["level"]}) == {"Beeper_0": {"level": 0}}
        assert await mosaik.call("step", 4, {"Beeper_0": {"level": {"S.s": 1}}}, 100) == 5
        assert await mosaik.call("get_data", {"Beeper_0": ["level"]}) == {"Beeper_0": {"level": 1}}
        assert await mosaik.call("step", 5, {}, 100) is None
        heard = await mosaik.call("heard")
        assert heard == [[t, "alarm"] for t in (1, 2, 3, 4)] + [[4, "input"]] + [
            [t, "alarm"] for t in (5, 6)
        ]


async def test_events_only_simulators_run_ahead_from_the_first_step() -> None:
    async with simulator(EVENTS_ONLY) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Beeper", at=[5], quiet=[1, 2])
        assert await mosaik.call("step", 0, {}, 100) is None
        assert await mosaik.call("get_data", {"Beeper_0": ["beep"]}) == {
            "Beeper_0": {"beep": 5},
            "time": 5,
        }


async def test_the_clock_refuses_a_step_back_in_time() -> None:
    async with simulator(EVENTS_ONLY) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Beeper", at=[5])
        assert await mosaik.call("step", 0, {}, 100) is None  # ran ahead to 5
        failure = await mosaik.failing("step", 2, {}, 100)
        assert failure[0] == "ValueError"
        assert "steps at tick 2" in failure[1]


# ---- the simulator's own requests to mosaik -----------------------------------------------

ASKED: list[tuple[str, Any]] = []


class Asker(Agent):
    def __init__(self) -> None:
        self.progress: float | None = None

    @on(Inputs)
    async def inputs(self, msg: Inputs) -> None:
        link = mosaik_of(self)
        try:
            self.progress = await link.get_progress()
        except RemoteError as exc:
            ASKED.append((self.name, f"{exc.type_name}: {exc.message} from {exc.origin}"))
            return
        ASKED.append((self.name, self.progress))
        ASKED.append((self.name, await link.get_related_entities()))


# run_ahead=False: the requests come while mosaik waits for the step (see below for True)
ASKING = Simulator(
    [Model(Asker, inputs=["go"], outputs=["progress"])], kind="time-based", run_ahead=False
)


async def test_agents_await_their_requests_to_mosaik_answers_settle_in_request_order() -> None:
    ASKED.clear()
    async with simulator(ASKING) as mosaik:
        await mosaik.call("init", "Sim-0", step_size=1)
        await mosaik.call("create", 2, "Asker")
        go = {"go": {"S.s": True}}
        step = await mosaik.request("step", 0, {"Asker_0": go, "Asker_1": go}, 10)
        first = await mosaik.receive()
        second = await mosaik.receive()
        assert [first[0], first[2], second[0], second[2]] == [
            REQUEST,
            ["get_progress", [], {}],
            REQUEST,
            ["get_progress", [], {}],
        ]
        assert (first[1], second[1]) == (0, 1)  # the simulator numbers its own requests
        await mosaik.send(SUCCESS, second[1], 20.0)  # answered out of order
        await mosaik.send(SUCCESS, first[1], 10.0)
        for expected_id, entity in ((2, "Asker_0"), (3, "Asker_1")):
            kind, msg_id, content = await mosaik.receive()
            assert (kind, msg_id, content) == (
                REQUEST,
                expected_id,
                ["get_related_entities", [f"Sim-0.{entity}"], {}],
            )
            await mosaik.send(SUCCESS, msg_id, {"related": entity})
        assert await mosaik.receive() == [SUCCESS, step, 1]
        assert await mosaik.call(
            "get_data", {"Asker_0": ["progress"], "Asker_1": ["progress"]}
        ) == {
            "Asker_0": {"progress": 10.0},
            "Asker_1": {"progress": 20.0},
        }
    assert ASKED == [
        ("Asker_0", 10.0),
        ("Asker_1", 20.0),
        ("Asker_0", {"related": "Asker_0"}),
        ("Asker_1", {"related": "Asker_1"}),
    ]


async def test_a_failed_request_raises_remote_error_in_the_agent() -> None:
    ASKED.clear()
    async with simulator(ASKING) as mosaik:
        await mosaik.call("init", "Sim-0", step_size=1)
        await mosaik.call("create", 1, "Asker")
        step = await mosaik.request("step", 0, {"Asker_0": {"go": {"S.s": 1}}}, 10)
        _, msg_id, _ = await mosaik.receive()
        await mosaik.send(FAILURE, msg_id, ["AssertionError", "not in a step", "Traceback..."])
        assert await mosaik.receive() == [SUCCESS, step, 1]
    assert ASKED == [("Asker_0", "AssertionError: not in a step from mosaik")]


# ---- errors --------------------------------------------------------------------------------


class Fragile(Agent):
    def __init__(self) -> None:
        self.out = 0

    @on(Inputs)
    def inputs(self, msg: Inputs) -> None:
        self.out = 1 // msg.first("x")  # a zero breaks it


FRAGILE = Simulator(
    [Model(Fragile, inputs=["x"], outputs=["out"]), Model(Doubler, inputs=["x"], outputs=["out"])],
    kind="time-based",
    step_size=1,
    run_ahead=False,
)


async def test_a_crash_in_a_handler_fails_the_step_with_the_agents_traceback() -> None:
    async with simulator(FRAGILE) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Fragile")
        assert await mosaik.call("step", 0, {"Fragile_0": {"x": {"S.s": 1}}}, 10) == 1
        kind, text, tb = await mosaik.failing("step", 1, {"Fragile_0": {"x": {"S.s": 0}}}, 10)
        assert kind == "ZeroDivisionError"
        assert text == (
            "agent Fragile_0 crashed at t=1: ZeroDivisionError: integer division or modulo by zero"
        )
        assert "self.out = 1 // msg.first" in tb  # the agent's own line
        assert "in inputs" in tb


async def test_bad_calls_fail_alone_and_the_simulator_carries_on() -> None:
    async with simulator(FRAGILE) as mosaik:
        assert "before init" in (await mosaik.failing("create", 1, "Doubler"))[1]
        assert "positive" in (await mosaik.failing("init", "Sim-0", time_resolution=0))[1]
        await mosaik.call("init", "Sim-0")
        assert (await mosaik.failing("init", "Sim-0"))[1] == "init was called twice"
        failure = await mosaik.failing("create", 1, "Nope")
        assert failure[:2] == [
            "LookupError",
            "no model 'Nope' in this simulator (it has ['Fragile', 'Doubler'])",
        ]
        assert (
            "takes no parameters ['colour']"
            in (await mosaik.failing("create", 1, "Doubler", colour=1))[1]
        )
        await mosaik.call("create", 1, "Doubler")
        assert "no entity 'Ghost_0'" in (await mosaik.failing("step", 0, {"Ghost_0": {}}, 5))[1]
        failure = await mosaik.failing("step", 0, {"Doubler_0": {"y": {"S.s": 1}}}, 5)
        assert failure[1] == "['y'] are no inputs of Doubler_0 (model Doubler takes ['x'])"
        assert "integer ticks" in (await mosaik.failing("step", 0.5, {}, 5))[1]
        assert "no method 'explode'" in (await mosaik.failing("explode"))[1]
        # a request that is framed well but is not [func, args, kwargs] fails alone
        await mosaik.send(REQUEST, 99, "step")
        kind, msg_id, content = await mosaik.receive()
        assert (kind, msg_id, content[0]) == (FAILURE, 99, "ValueError")
        # and the steps that were refused changed nothing
        assert await mosaik.call("step", 0, {"Doubler_0": {"x": {"S.s": 2}}}, 5) == 1
        assert await mosaik.call("get_data", {"Doubler_0": ["out"]}) == {"Doubler_0": {"out": 4}}


class Unencodable(Agent):
    def __init__(self) -> None:
        self.out = {1, 2}


async def test_an_output_that_is_not_json_fails_that_get_data_only() -> None:
    sim = Simulator(
        [Model(Unencodable, outputs=["out", "missing"])], kind="time-based", step_size=1
    )
    async with simulator(sim) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Unencodable")
        await mosaik.call("step", 0, {}, 5)
        kind, text, _ = await mosaik.failing("get_data", {"Unencodable_0": ["out"]})
        assert (kind, "is not JSON serializable" in text) == ("EncodeError", True)
        kind, text, _ = await mosaik.failing("get_data", {"Unencodable_0": ["missing"]})
        assert (kind, text) == (
            "AttributeError",
            "entity Unencodable_0: its agent (Unencodable) has no attribute 'missing', an output "
            "of model Unencodable",
        )
        assert await mosaik.call("step", 1, {}, 5) == 2


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (struct.pack(">I", 65) + b"x" * 65, "frame of 65 bytes (the limit is 64)"),
        (struct.pack(">I", 0), "empty frame"),
        (struct.pack(">I", 3) + b"\xff\xfe]", "not UTF-8 JSON"),
        (struct.pack(">I", 5) + b"[0, 1", "not UTF-8 JSON"),
        (struct.pack(">I", 6) + b"[0, 1]", "must be [type, id, content]"),
        (struct.pack(">I", 9) + b"[7, 1, 2]", "unknown frame type 7"),
        (struct.pack(">I", 12) + b'[0, "a", []]', "must be a natural number"),
        (struct.pack(">I", 9) + b"[1, 5, 2]", "answered request 5, which was never made"),
    ],
    ids=[
        "oversized",
        "empty",
        "not-utf8",
        "not-json",
        "not-a-triple",
        "kind",
        "id",
        "stray-answer",
    ],
)
async def test_a_malformed_or_oversized_frame_closes_the_connection(raw: bytes, error: str) -> None:
    sim = Simulator([Doubler], max_frame=64)
    ours, theirs = trio.testing.memory_stream_pair()
    mosaik = FakeMosaik(ours)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def fake() -> None:
                await mosaik.call("init", "Sim-0")
                await mosaik.call("create", 1, "Doubler")
                await mosaik.send_raw(raw)

            nursery.start_soon(fake)
            with pytest.raises(ProtocolError) as raised:
                await serve(sim, theirs)
    assert error in str(raised.value)
    with pytest.raises(EOFError):
        await mosaik.receive()  # closed on us


async def test_a_hang_up_without_stop_closes_the_container_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    mosaik = FakeMosaik(ours)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def fake() -> None:
                await mosaik.call("init", "Sim-0", step_size=1)
                await mosaik.call("create", 1, "Doubler")
                await ours.aclose()

            nursery.start_soon(fake)
            await serve(DOUBLING, theirs)
    assert "closed the connection without stopping the simulator" in caplog.text


# ---- a time-based simulator's work off mosaik's critical path ---------------------------

LOG: list[tuple[float, str]] = []


class Stepper(Agent):
    """Logs its inputs and an alarm every 1.5 s; breaks on an input of 0."""

    def __init__(self) -> None:
        self.out = 0.0

    def setup(self) -> None:
        self.set_alarm(Beep(0), after=1.5)

    @on(Beep)
    def beep(self, msg: Beep) -> None:
        LOG.append((self.clock.now(), "alarm"))
        self.set_alarm(Beep(0), after=1.5)

    @on(Inputs)
    def inputs(self, msg: Inputs) -> None:
        LOG.append((msg.time, "input"))
        self.out = 1 / msg.first("x")


STEPPING = Simulator(
    [Model(Stepper, inputs=["x"], outputs=["out"])],
    kind="time-based",
    step_size=2,
    extra_methods={"log": lambda c: LOG},  # a call after the one before is done with
)


async def test_a_time_based_step_is_answered_at_once_and_run_before_get_data() -> None:
    LOG.clear()
    async with simulator(STEPPING) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Stepper")
        assert await mosaik.call("step", 0, {"Stepper_0": {"x": {"S.s": 4}}}, 6) == 2
        assert await mosaik.call("get_data", {"Stepper_0": ["out"]}) == {"Stepper_0": {"out": 0.25}}
        assert await mosaik.call("step", 2, {"Stepper_0": {"x": {"S.s": 2}}}, 6) == 4
        assert await mosaik.call("get_data", {"Stepper_0": ["out"]}) == {"Stepper_0": {"out": 0.5}}
        # the alarm at 1.5 came before the inputs at 2; all of a step before its get_data
        assert await mosaik.call("log") == [[0.0, "input"], [1.5, "alarm"], [2.0, "input"]]
        # a crash in the step's run fails mosaik's next call, with the traceback
        assert await mosaik.call("step", 6, {"Stepper_0": {"x": {"S.s": 0}}}, 10) == 8
        kind, text, tb = await mosaik.failing("get_data", {"Stepper_0": ["out"]})
        assert (kind, text) == (
            "ZeroDivisionError",
            "agent Stepper_0 crashed at t=6: ZeroDivisionError: division by zero",
        )
        assert 'self.out = 1 / msg.first("x")' in tb
    # alarms due at a step come first, those set meanwhile for its time too (6.0)
    assert LOG[-4:] == [(3.0, "alarm"), (4.5, "alarm"), (6.0, "alarm"), (6.0, "input")]


class Stuck(Agent):
    @on(Inputs)
    async def inputs(self, msg: Inputs) -> None:
        await self.sleep(1000)  # longer than the World


async def test_stop_closes_a_container_whose_agents_wait_on_time() -> None:
    sim = Simulator([Model(Stuck, inputs=["x"])], kind="time-based", step_size=1)
    async with simulator(sim) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Stuck")
        assert await mosaik.call("step", 0, {"Stuck_0": {"x": {"S.s": 1}}}, 5) == 1
        await mosaik.request("stop")
        with pytest.raises(EOFError):
            await mosaik.receive()  # closed: mosaik's time ended, the sleep was cancelled


class Idler(Agent):
    """An ignore_if_idle alarm at 3 and a plain one at 5; ``rang`` lists when each came."""

    def __init__(self) -> None:
        self.rang: list[float] = []

    def setup(self) -> None:
        self.set_alarm(Beep(3), at=3, ignore_if_idle=True)
        self.set_alarm(Beep(5), at=5)

    @on(Beep)
    def beep(self, msg: Beep) -> None:
        self.rang.append(self.clock.now())


async def test_ignore_if_idle_alarms_make_no_step_but_are_not_dropped() -> None:
    sim = Simulator(
        [Model(Idler, outputs=["rang"])],
        run_ahead=False,
        extra_methods={"rang": lambda c: c.agent("Idler_0", Idler).rang},
    )
    async with simulator(sim) as mosaik:
        await mosaik.call("init", "Sim-0")
        await mosaik.call("create", 1, "Idler")
        assert await mosaik.call("step", 0, {}, 100) == 5  # not 3: it keeps nobody busy
        assert await mosaik.call("rang") == []
        assert await mosaik.call("step", 5, {}, 100) is None
        assert await mosaik.call("rang") == [3, 5]  # the World's time passed it: it came


GREETINGS: list[str] = []


async def _spawn_helper(container: Any, greeting: str) -> None:
    GREETINGS.append(greeting)
    await container.spawn(Doubler, name="Doubler_0")  # not an entity; its name is taken


async def test_on_init_gets_the_sim_parameters_and_may_spawn_agents() -> None:
    GREETINGS.clear()
    sim = Simulator([Doubler], kind="time-based", step_size=1, on_init=_spawn_helper)
    async with simulator(sim) as mosaik:
        await mosaik.call("init", "Sim-0", time_resolution=1.0, greeting="hello")
        failure = await mosaik.failing("create", 2, "Doubler")
        assert failure[1] == "agents called ['Doubler_0'] exist already (spawned by on_init?)"
    assert GREETINGS == ["hello"]
    async with simulator(DOUBLING) as mosaik:
        failure = await mosaik.failing("init", "Sim-0", step_size=1, greeting="hello")
        assert failure[:2] == [
            "TypeError",
            "unexpected sim parameters ['greeting'] (no on_init takes them)",
        ]
