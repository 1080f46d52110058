"""OpenTelemetry for a container: spans for asks and handling, linked across containers
by the W3C ``traceparent`` each envelope carries, and metrics (see docs/operating.md)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, final

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .._messages.events import ChildExited, DeadLetter, SystemEvent
from .._messages.ref import AgentRef

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from .._messages.envelope import Envelope
    from .._runtime.container import Container
    from .._runtime.observer import Finish

__all__ = ["SCOPE", "Telemetry", "instrument"]

SCOPE = "triomas"
"""The instrumentation scope of the tracer and the meter: spans and metrics come from it."""

_PROPAGATOR = TraceContextTextMapPropagator()


def _traceparent(span: Span) -> str | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    # the W3C format, version 00, written here: the propagator's inject costs a dict
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _receiver(to: Any) -> str:
    if isinstance(to, AgentRef):
        return to.address
    return to.__name__ if isinstance(to, type) else str(to)


@final
class Telemetry:
    """The OpenTelemetry of one container: made by :func:`instrument`, ended by
    :meth:`close`. It is the container's observer (:meth:`Container.observe`).

    Spans: ``ask <Type>`` (kind CLIENT) around each ask an agent or the code outside
    the agents makes, and ``handle <Type>`` (SERVER for an ask, CONSUMER for a tell or
    a publish) around each message handed to a handler, with the sender's span as
    parent, in this container or another one. Attributes: ``messaging.system``
    (``triomas``), ``messaging.operation.type``, ``messaging.destination.name``,
    ``triomas.container``, ``triomas.agent``, ``triomas.agent.class``,
    ``triomas.message.type``, ``triomas.performative`` (when set) and
    ``triomas.clock.time``: the container's clock, virtual time in a simulation (the
    span's own timestamps are wall clock).

    Metrics (all with ``triomas.container``): ``triomas.messages.sent`` and
    ``triomas.messages.handled`` (counters by ``triomas.message.type``, handled by
    ``triomas.agent.class`` too), ``triomas.handler.duration`` (a histogram, seconds),
    ``triomas.dead_letters`` (by ``triomas.dead_letter.reason``), ``triomas.restarts``
    (by class), and, read from :meth:`Container.stats` when the meter collects,
    ``triomas.mailbox.depth`` and ``triomas.agents`` (gauges by class). Attributes name
    classes and message types, never agents, so that a million agents are not a
    million time series.
    """

    def __init__(
        self,
        container: Container,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        self.container = container
        self._address = container.address
        self._clock = container.clock
        self._closed = False
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._sent = meter.create_counter(
            "triomas.messages.sent", unit="{message}", description="messages sent"
        )
        self._handled = meter.create_counter(
            "triomas.messages.handled", unit="{message}", description="messages handled"
        )
        self._duration = meter.create_histogram(
            "triomas.handler.duration", unit="s", description="time in a handler, awaits included"
        )
        self._dead = meter.create_counter(
            "triomas.dead_letters", unit="{message}", description="messages that reached nobody"
        )
        self._restarts = meter.create_counter(
            "triomas.restarts", unit="{restart}", description="agents restarted by a supervisor"
        )
        meter.create_observable_gauge(
            "triomas.mailbox.depth",
            [self._depths],
            unit="{message}",
            description="messages waiting, by agent class",
        )
        meter.create_observable_gauge(
            "triomas.agents", [self._agents], unit="{agent}", description="live agents, by class"
        )
        self._base = {"triomas.container": self._address}
        self._unsubscribe = container.on_event(self._event)
        container.observe(self)

    def close(self) -> None:
        """Stop observing the container: no span or count from now on (the gauges read
        nothing more; OpenTelemetry has no way to remove an instrument)."""
        if not self._closed:
            self._closed = True
            self.container.observe(None)
            self._unsubscribe()

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- the Observer port ---------------------------------------------------------------

    def sending(self, sender: AgentRef | None, env: Envelope) -> str | None:
        """Count a send; the current span's ``traceparent``, for the envelope."""
        self._sent.add(1, {**self._base, "triomas.message.type": type(env.body).__name__})
        return _traceparent(trace.get_current_span())

    def asking(self, sender: AgentRef | None, receiver: Any, body: Any) -> Finish:
        """Begin an ``ask`` span, current until the ask ends."""
        kind = type(body).__name__
        attributes: dict[str, Any] = {
            "messaging.system": "triomas",
            "messaging.operation.type": "send",
            "messaging.destination.name": _receiver(receiver),
            "triomas.container": self._address,
            "triomas.message.type": kind,
            "triomas.clock.time": self._clock.now(),
        }
        if sender is not None:
            attributes["triomas.agent"] = sender.name
        span = self._tracer.start_span(f"ask {kind}", kind=SpanKind.CLIENT, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))

        def finish(error: BaseException | None) -> None:
            if error is not None:
                _failed(span, error)
            span.end()
            otel_context.detach(token)

        return finish

    def handling(self, agent: AgentRef, cls: type, env: Envelope) -> Finish:
        """Begin a ``handle`` span, child of the sender's, current until the handler ends."""
        kind = type(env.body).__name__
        parent = None if env.trace is None else _PROPAGATOR.extract({"traceparent": env.trace})
        attributes: dict[str, Any] = {
            "messaging.system": "triomas",
            "messaging.operation.type": "process",
            "messaging.destination.name": agent.name,
            "triomas.container": self._address,
            "triomas.agent": agent.name,
            "triomas.agent.class": cls.__qualname__,
            "triomas.message.type": kind,
            "triomas.clock.time": self._clock.now(),
        }
        if env.performative is not None:
            attributes["triomas.performative"] = env.performative
        span = self._tracer.start_span(
            f"handle {kind}",
            context=parent,
            kind=SpanKind.SERVER if env.reply_with is not None else SpanKind.CONSUMER,
            attributes=attributes,
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        start = time.perf_counter()

        def finish(error: BaseException | None) -> None:
            elapsed = time.perf_counter() - start
            if error is not None:
                _failed(span, error)
            span.end()
            otel_context.detach(token)
            counted = {
                **self._base,
                "triomas.agent.class": cls.__qualname__,
                "triomas.message.type": kind,
            }
            self._handled.add(1, counted)
            self._duration.record(elapsed, counted)

        return finish

    # ---- events and gauges ---------------------------------------------------------------

    def _event(self, event: SystemEvent) -> None:
        if isinstance(event, DeadLetter):
            self._dead.add(1, {**self._base, "triomas.dead_letter.reason": str(event.reason)})
        elif isinstance(event, ChildExited) and event.will_restart:
            try:  # the cell stays registered through a restart
                cls = type(self.container.agent(event.ref)).__qualname__
            except LookupError:
                cls = ""
            self._restarts.add(1, {**self._base, "triomas.agent.class": cls})

    def _by_class(self, depth: bool) -> Iterable[Observation]:
        if self._closed:
            return []
        totals: defaultdict[str, int] = defaultdict(int)
        for agent in self.container.stats().agents:
            totals[agent.cls] += agent.mailbox if depth else 1
        return [
            Observation(total, {**self._base, "triomas.agent.class": cls})
            for cls, total in totals.items()
        ]

    def _depths(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._by_class(True)

    def _agents(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._by_class(False)


def _failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def instrument(
    container: Container,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Telemetry:
    """Turn OpenTelemetry on for ``container``: spans and metrics through the given
    providers, or the global ones (``opentelemetry.trace.set_tracer_provider`` and
    ``opentelemetry.metrics.set_meter_provider``). Instrument each container of a
    process; the :class:`Telemetry` returned ends it (``close()``, or ``with``)."""
    return Telemetry(container, tracer_provider, meter_provider)
