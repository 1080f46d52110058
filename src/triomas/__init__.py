"""triomas: supervised multi-agent runtime on trio, in real or deterministic virtual time."""

# General layout (docs/internals.md draws it, tests/meta/test_layers.py pins it). Each
# private subpackage is one layer; a layer imports only the layers above it in this list:
#
#   _messages/     messages & codec: references and addresses, exit reasons, errors,
#                  @message and type tags, the envelope, system events, the codec
#   _time/         time: clocks, timers, the one-shot future, the virtual-time scheduler
#   _agent/        the agent: Agent, the AgentContext it reaches its runtime through,
#                  spawn and send options, @on handlers, @expose RPC
#   _supervision/  supervision as users write it: ChildSpec, Backoff, Supervisor
#   _runtime/      the kernel: the Container facade, registry, router, cell, mailbox,
#                  dispatch, the live and virtual engines, the supervision tree,
#                  monitors and links, and the ports a network plugs into
#   _net/          transport & rpc: transports, sockets, the wire protocol, connections,
#                  the socket network, remote replies, the virtual network
#   bdi/, testing/ on top: BDI agents and speech acts; the testing kit
#   _open.py       the composition root: open_container (container + network + run)
#   _node.py       containers in child processes (spawn_container, run_node)
#
# Everything public is re-exported here (and from triomas.bdi, triomas.testing), and
# shows this module as its home (fixup_module_metadata at the end).

from ._agent.agent import Agent, SendOptions
from ._agent.handlers import on
from ._agent.options import Overflow, Restart
from ._agent.rpc import Proxy, expose
from ._messages.codec import Codec
from ._messages.envelope import Envelope
from ._messages.errors import (
    AgentStateError,
    AskTimeout,
    AuthenticationError,
    CalleeDown,
    ChildSpecError,
    CodecError,
    DecodeError,
    EncodeError,
    HandlerFailed,
    LinkedActorFailed,
    MailboxFull,
    MessageTagError,
    NameTaken,
    NoHandler,
    NotExposed,
    ProtocolError,
    RemoteError,
    SupervisorCrashed,
    SupervisorEscalation,
    SupervisorStartError,
    TriomasError,
    VirtualTimeError,
)
from ._messages.events import (
    AgentStarted,
    AgentStopped,
    ChildExited,
    ChildStarted,
    DeadLetter,
    DeadLetterReason,
    Down,
    Exit,
    ExitReason,
    Failure,
    Fatal,
    MonitorRef,
    NoConnection,
    NoProc,
    Normal,
    Shutdown,
    ShutdownOverrun,
    SystemEvent,
    TraceRecord,
)
from ._messages.message import message, message_class, message_tag
from ._messages.public import fixup_module_metadata
from ._messages.ref import AgentRef
from ._net.virtual import SimNetwork
from ._node import Node, NodeStartError, spawn_container
from ._open import open_container
from ._runtime.container import Container, RunReport
from ._runtime.observer import Observer
from ._runtime.progress import Progress
from ._runtime.run import run
from ._runtime.stats import AgentStats, ContainerStats
from ._supervision.spec import (
    AutoShutdown,
    Backoff,
    ChildSpec,
    Directive,
    Strategy,
)
from ._supervision.supervisor import DynamicSupervisor, StartChild, Supervisor, TerminateChild
from ._time.clock import Clock, ExternalClock, RealClock, VirtualClock
from ._time.timers import TimerHandle

__all__ = [
    "Agent",
    "AgentRef",
    "AgentStarted",
    "AgentStateError",
    "AgentStats",
    "AgentStopped",
    "AskTimeout",
    "AuthenticationError",
    "AutoShutdown",
    "Backoff",
    "CalleeDown",
    "ChildExited",
    "ChildSpec",
    "ChildSpecError",
    "ChildStarted",
    "Clock",
    "Codec",
    "CodecError",
    "Container",
    "ContainerStats",
    "DeadLetter",
    "DeadLetterReason",
    "DecodeError",
    "Directive",
    "Down",
    "DynamicSupervisor",
    "EncodeError",
    "Envelope",
    "Exit",
    "ExitReason",
    "ExternalClock",
    "Failure",
    "Fatal",
    "HandlerFailed",
    "LinkedActorFailed",
    "MailboxFull",
    "MessageTagError",
    "MonitorRef",
    "NameTaken",
    "NoConnection",
    "NoHandler",
    "NoProc",
    "Node",
    "NodeStartError",
    "Normal",
    "NotExposed",
    "Observer",
    "Overflow",
    "Progress",
    "ProtocolError",
    "Proxy",
    "RealClock",
    "RemoteError",
    "Restart",
    "RunReport",
    "SendOptions",
    "Shutdown",
    "ShutdownOverrun",
    "SimNetwork",
    "StartChild",
    "Strategy",
    "Supervisor",
    "SupervisorCrashed",
    "SupervisorEscalation",
    "SupervisorStartError",
    "SystemEvent",
    "TerminateChild",
    "TimerHandle",
    "TraceRecord",
    "TriomasError",
    "VirtualClock",
    "VirtualTimeError",
    "expose",
    "message",
    "message_class",
    "message_tag",
    "on",
    "open_container",
    "run",
    "spawn_container",
]

fixup_module_metadata(__name__, globals())
del fixup_module_metadata
