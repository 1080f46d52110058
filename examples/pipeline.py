"""A three-stage pipeline under a rest-for-one supervisor: a bad record restarts the tail.

    python examples/pipeline.py

``source -> parser -> sink``: the source emits one text record per clock
second, the parser turns it into a number, the sink keeps a running total.
The supervisor starts the stages in order, each ``setup()`` finishing before
the next stage starts, so a stage can look up the one before it by name and
connect to it: the stage before keeps a reference to the next, and sends it
its output.

That connection is state of one incarnation. When the parser crashes on a bad
record, its new incarnation knows no sink, so the sink has to start again and
connect again: that is ``rest_for_one``. The supervisor stops the stages after
the one that crashed, in reverse order, then restarts it and them in order,
while the stages before it keep running. Here the source stays at incarnation
1 and keeps counting; the parser and the sink come back as incarnation 2, and
the sink's total starts again from zero. The bad record is not delivered again.

Every ``ChildExited`` and ``ChildStarted`` event of the pipeline is printed
with its clock time. The run is in virtual time: every run prints the same
lines.
"""

from __future__ import annotations

import logging

import triomas
from triomas import (
    Agent,
    AgentRef,
    ChildExited,
    ChildSpec,
    ChildStarted,
    Supervisor,
    SystemEvent,
    message,
    on,
)

RECORDS = ["3", "5", "oops", "8", "13", "21"]


@message(tag="pipeline.Connect")
class Connect:
    """From a stage to the one before it: send your output to ``downstream``."""

    downstream: AgentRef


@message(tag="pipeline.Tick")
class Tick:
    """The source's alarm: time to emit the next record."""


@message(tag="pipeline.Record")
class Record:
    """A line of raw text, numbered by the source."""

    seq: int
    text: str


@message(tag="pipeline.Parsed")
class Parsed:
    """A record turned into a number."""

    seq: int
    value: int


class Stage(Agent):
    """A pipeline stage: connects to the stage called ``upstream``, if any."""

    upstream: str | None = None

    def setup(self) -> None:
        self.downstream: AgentRef | None = None
        if self.upstream is not None:
            # Started after its upstream, so the name is already there.
            before = self.container.lookup(self.upstream)
            assert before is not None
            self.send(before, Connect(self.ref))

    @on(Connect)
    def connected(self, msg: Connect) -> None:
        self.downstream = msg.downstream

    def say(self, what: str) -> None:
        print(f"t={self.clock.now()} {self.name} #{self.incarnation} {what}")


class Source(Stage):
    """Emits one record per clock second, counting them."""

    def setup(self) -> None:
        super().setup()
        self.sent = 0
        self.set_alarm(Tick(), after=1)

    @on(Tick)
    def tick(self, msg: Tick) -> None:
        if self.downstream is not None:
            self.sent += 1
            text = RECORDS[self.sent - 1]
            self.say(f"sends record {self.sent}: {text!r}")
            self.send(self.downstream, Record(self.sent, text))
        if self.sent < len(RECORDS):
            self.set_alarm(Tick(), after=1)


class Parser(Stage):
    """Turns text into numbers; crashes on a record that is not one."""

    upstream = "source"

    @on(Record)
    def record(self, msg: Record) -> None:
        value = int(msg.text)  # raises ValueError on a bad record
        if self.downstream is not None:
            self.send(self.downstream, Parsed(msg.seq, value))


class Sink(Stage):
    """Keeps a running total of what its incarnation received."""

    upstream = "parser"

    def setup(self) -> None:
        super().setup()
        self.total = 0

    @on(Parsed)
    def parsed(self, msg: Parsed) -> None:
        self.total += msg.value
        self.say(f"adds record {msg.seq}: {msg.value}, total {self.total}")


async def pipeline() -> None:
    # A crash is logged with its traceback on the "triomas" logger. Here the crash
    # is expected, it is the point of the demo: keep the log quiet.
    logging.getLogger("triomas").setLevel(logging.CRITICAL)

    async with triomas.open_container() as c:

        def show(event: SystemEvent) -> None:
            if not isinstance(event, (ChildExited, ChildStarted)):
                return
            if event.supervisor is None or event.supervisor.name != "pipeline":
                return
            who = f"{event.ref.name} #{event.incarnation}"
            if isinstance(event, ChildStarted):
                print(f"t={c.clock.now()}   started {who}")
            else:
                then = "restart" if event.will_restart else "gone"
                print(f"t={c.clock.now()}   exited {who}: {event.reason} -> {then}")

        c.on_event(show)
        await c.start(
            Supervisor,
            [ChildSpec("source", Source), ChildSpec("parser", Parser), ChildSpec("sink", Sink)],
            strategy="rest_for_one",
            max_restarts=5,
            period=10.0,
            name="pipeline",
        )
        report = await c.run_until_idle()
        print(f"run_until_idle -> {report.reason} at t={report.time}")

        source = c.agent("source", Source)
        sink = c.agent("sink", Sink)
        print(f"source: incarnation {source.incarnation}, {source.sent} records sent")
        print(f"parser: incarnation {c.agent('parser').incarnation}")
        print(f"sink: incarnation {sink.incarnation}, total {sink.total} since its restart")
        print("the container stops the pipeline, its stages in reverse order:")


def main() -> None:
    triomas.run(pipeline, clock=triomas.VirtualClock(), seed=1)


if __name__ == "__main__":
    main()
