"""Helpers for testing agents: the probe agent, trace recording and its writers
(JSON lines, Mermaid), the simulated network fixture, and the conformance suites
``check_engine`` and ``check_transport`` that other engines and transports reuse.

The pytest plugin (``triomas.testing._plugin``, registered by the package's
``pytest11`` entry point) adds the ``triomas_*`` fixtures and options."""

from .._messages.public import fixup_module_metadata
from .._runtime.probe import Probe
from ._conformance import ContainerFactory, check_engine, check_transport
from ._crash import InjectedCrash, crash_on
from ._diagram import mermaid, read_trace, trace_json_lines
from ._fixtures import TestNetwork
from ._nats import NatsServer, find_nats_server, nats_server
from ._trace import TraceRecorder, assert_deterministic, assert_no_dead_letters, assert_trace

__all__ = [
    "ContainerFactory",
    "InjectedCrash",
    "NatsServer",
    "Probe",
    "TestNetwork",
    "TraceRecorder",
    "assert_deterministic",
    "assert_no_dead_letters",
    "assert_trace",
    "check_engine",
    "check_transport",
    "crash_on",
    "find_nats_server",
    "mermaid",
    "nats_server",
    "read_trace",
    "trace_json_lines",
]

fixup_module_metadata(__name__, globals(), also=("triomas._runtime.probe",))
del fixup_module_metadata
