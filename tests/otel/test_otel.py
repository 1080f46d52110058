"""OpenTelemetry (``triomas.otel``), checked with the SDK's in-memory exporters: spans of
asks and handling linked within a container and across containers by the envelope's
``traceparent``, virtual time as an attribute, errors, metrics, and a hostile trace
context from a peer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import trio
import trio.testing
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import triomas
import triomas.otel
from triomas import Agent, CalleeDown, Envelope, message, on
from triomas._messages.errors import ProtocolError
from triomas._net.wire import FrameDecoder, decode_message, encode_message, parse


@message(tag="otel.Job")
class Job:
    n: int


@message(tag="otel.Work")
class Work:
    n: int


@message(tag="otel.Log")
class Log:
    text: str


@message(tag="otel.Boom")
class Boom:
    pass


class Front(Agent):
    """Asks the back for each Job, answers with the back's answer."""

    def __init__(self, back: str) -> None:
        self.back = back

    @on(Job)
    async def job(self, msg: Job) -> int:
        answer: int = await self.ask(self.back, Work(msg.n))
        return answer


class Back(Agent):
    """Answers a Work and tells the logger; Boom raises."""

    def __init__(self, logger: str | None = None) -> None:
        self.logger = logger

    @on(Work)
    def work(self, msg: Work) -> int:
        if self.logger is not None:
            self.send(self.logger, Log(f"work {msg.n}"))
        return msg.n * 2

    @on(Boom)
    def boom(self, msg: Boom) -> None:
        raise RuntimeError("boom")


class Logger(Agent):
    def __init__(self) -> None:
        self.lines: list[str] = []

    @on(Log)
    def log(self, msg: Log) -> None:
        self.lines.append(msg.text)


class Sleeper(Agent):
    """On a Job, sleeps Job.n clock seconds, then tells the logger."""

    @on(Job)
    async def job(self, msg: Job) -> None:
        await self.sleep(msg.n)
        self.send("logger", Log("woke"))


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _named(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in finished if s.name == name]
    return span


def _parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def _trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


async def test_an_ask_and_what_it_causes_are_one_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    async with triomas.open_container() as c:
        with triomas.otel.instrument(c, tracer_provider=provider):
            await c.spawn(Logger, name="logger")
            await c.spawn(Back, "logger", name="back")
            await c.spawn(Front, "back", name="front")
            assert await c.ask("front", Job(21)) == 42
            await trio.testing.wait_all_tasks_blocked()
            assert c.agent("logger", Logger).lines == ["work 21"]
    finished = exporter.get_finished_spans()
    outer = _named(finished, "ask Job")
    front = _named(finished, "handle Job")
    inner = _named(finished, "ask Work")
    back = _named(finished, "handle Work")
    logged = _named(finished, "handle Log")
    assert len({_trace_id(s) for s in (outer, front, inner, back, logged)}) == 1
    assert outer.parent is None
    assert _parent_id(front) == _id(outer)
    assert _parent_id(inner) == _id(front)
    assert _parent_id(back) == _id(inner)
    assert _parent_id(logged) == _id(back)  # a tell sent while handling is its child
    assert (outer.kind, front.kind, back.kind, logged.kind) == (
        SpanKind.CLIENT,
        SpanKind.SERVER,
        SpanKind.SERVER,
        SpanKind.CONSUMER,
    )
    assert front.attributes is not None
    assert front.attributes["triomas.agent"] == "front"
    assert front.attributes["triomas.agent.class"] == "Front"
    assert front.attributes["triomas.message.type"] == "Job"
    assert front.attributes["triomas.container"] == c.address
    assert front.attributes["messaging.system"] == "triomas"
    assert inner.attributes is not None
    assert inner.attributes["triomas.agent"] == "front"
    assert inner.attributes["messaging.destination.name"] == "back"


async def test_spans_link_across_containers_over_tcp(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    async with (
        triomas.open_container("tcp://127.0.0.1:0") as a,
        triomas.open_container("tcp://127.0.0.1:0") as b,
        trio.open_nursery(),
    ):
        with (
            triomas.otel.instrument(a, tracer_provider=provider),
            triomas.otel.instrument(b, tracer_provider=provider),
        ):
            await b.spawn(Back, name="back")
            await a.spawn(Front, f"{b.address}/back", name="front")
            with trio.fail_after(10):
                assert await a.ask("front", Job(4)) == 8
    finished = exporter.get_finished_spans()
    inner = _named(finished, "ask Work")
    remote = _named(finished, "handle Work")
    assert remote.attributes is not None
    assert remote.attributes["triomas.container"] == b.address
    assert _trace_id(remote) == _trace_id(inner)
    assert _parent_id(remote) == _id(inner)  # the traceparent crossed the wire
    assert remote.parent is not None
    assert remote.parent.is_remote


def test_virtual_time_is_an_attribute_of_each_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            telemetry = triomas.otel.instrument(c, tracer_provider=provider)
            await c.spawn(Logger, name="logger")
            await c.spawn(Sleeper, name="sleeper")
            await c.run(seconds=2.0)
            c.send("sleeper", Job(5))
            await c.run(until_idle=True)
            telemetry.close()

    trio.run(main)
    finished = exporter.get_finished_spans()
    job = _named(finished, "handle Job")
    woke = _named(finished, "handle Log")
    assert job.attributes is not None
    assert woke.attributes is not None
    assert job.attributes["triomas.clock.time"] == 2.0
    assert woke.attributes["triomas.clock.time"] == 7.0  # after the 5 s sleep
    assert _parent_id(woke) == _id(job)  # the sleep kept the span current in the agent


async def test_a_failed_handler_marks_both_spans(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    async with triomas.open_container() as c:
        with triomas.otel.instrument(c, tracer_provider=provider):
            await c.spawn(Back, name="back")
            with pytest.raises(CalleeDown):
                await c.ask("back", Boom())
    finished = exporter.get_finished_spans()
    handled = _named(finished, "handle Boom")
    asked = _named(finished, "ask Boom")
    assert handled.status.status_code is StatusCode.ERROR
    assert [event.name for event in handled.events] == ["exception"]
    assert asked.status.status_code is StatusCode.ERROR
    assert "CalleeDown" in (asked.status.description or "")


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == triomas.otel.SCOPE
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:  # a histogram: its count and sum
                        value = (point.count, point.sum)  # type: ignore[union-attr]
                    found.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return found


class Flaky(Agent):
    """Crashes on its first Boom (then is restarted)."""

    @on(Boom)
    def boom(self, msg: Boom) -> None:
        raise RuntimeError("boom")


def test_metrics_count_messages_handler_time_dead_letters_restarts_and_depth(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = spans
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])

    async def main() -> dict[str, list[tuple[dict[str, Any], Any]]]:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            triomas.otel.instrument(c, tracer_provider=provider, meter_provider=meters)
            await c.spawn(Logger, name="logger")
            await c.spawn(Flaky, name="flaky")
            for n in range(3):
                c.send("logger", Log(str(n)))
            c.send("nobody", Log("lost"))
            c.send("flaky", Boom())
            waiting = _points(reader)  # the three Logs wait in this round
            await c.run(until_idle=True)
            assert dict(
                (attrs["triomas.agent.class"], v) for attrs, v in waiting["triomas.mailbox.depth"]
            ) == {"Logger": 3, "Flaky": 1}
            return _points(reader)

    points = trio.run(main)
    sent = {attrs["triomas.message.type"]: v for attrs, v in points["triomas.messages.sent"]}
    assert sent == {"Log": 4, "Boom": 1}
    handled = {
        (attrs["triomas.agent.class"], attrs["triomas.message.type"]): v
        for attrs, v in points["triomas.messages.handled"]
    }
    assert handled == {("Logger", "Log"): 3, ("Flaky", "Boom"): 1}
    durations = {attrs["triomas.agent.class"]: v for attrs, v in points["triomas.handler.duration"]}
    assert durations["Logger"][0] == 3  # one duration per message handled
    dead = {attrs["triomas.dead_letter.reason"]: v for attrs, v in points["triomas.dead_letters"]}
    assert dead == {"unknown recipient": 1}
    restarts = {attrs["triomas.agent.class"]: v for attrs, v in points["triomas.restarts"]}
    assert restarts == {"Flaky": 1}
    agents = {attrs["triomas.agent.class"]: v for attrs, v in points["triomas.agents"]}
    assert agents == {"Logger": 1, "Flaky": 1}


async def test_closing_stops_the_spans(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    async with triomas.open_container() as c:
        await c.spawn(Back, name="back")
        telemetry = triomas.otel.instrument(c, tracer_provider=provider)
        assert await c.ask("back", Work(1)) == 2
        telemetry.close()
        telemetry.close()  # twice is once
        assert await c.ask("back", Work(2)) == 4
    assert [s.name for s in exporter.get_finished_spans()] == ["handle Work", "ask Work"]


def test_a_malformed_trace_context_from_a_peer_makes_a_root_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            triomas.otel.instrument(c, tracer_provider=provider)
            ref = await c.spawn(Logger, name="logger")
            env = Envelope(Log("x"), None, ref, "Log")
            env.trace = "00-not-a-trace-id-at-all"
            c._router.arrive(env, "logger", None, None)  # as the network delivers it
            await c.run(until_idle=True)

    trio.run(main)
    (span,) = exporter.get_finished_spans()
    assert span.name == "handle Log"
    assert span.parent is None


def test_the_trace_context_crosses_the_wire_and_is_checked() -> None:
    codec = triomas.Codec()
    env = Envelope(Log("x"), None, None, "Log")
    env.trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    (payload,) = FrameDecoder().feed(encode_message(codec, env, "logger"))
    item = parse(codec, payload)
    back, receiver = decode_message(codec, item)
    assert (back.trace, back.protocol, receiver) == (env.trace, None, "logger")
    plain = Envelope(Log("x"), None, None, "Log")
    (payload,) = FrameDecoder().feed(encode_message(codec, plain, "logger"))
    item = parse(codec, payload)
    assert item[10] is None  # no trace, no FIPA: nothing more on the wire
    for bad in (1234, "x" * 257, b"bytes"):
        item = msgpack.unpackb(msgpack.packb(item))
        item[10] = [None, None, None, bad]
        with pytest.raises(ProtocolError):
            decode_message(codec, item)
