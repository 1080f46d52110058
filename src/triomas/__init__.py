"""triomas: supervised multi-agent runtime on trio, in real or deterministic virtual time."""

from ._agent import Agent
from ._clock import Clock, ExternalClock, RealClock, VirtualClock
from ._codec import Codec
from ._container import Container, RunReport
from ._envelope import Envelope
from ._errors import (
    AgentStateError,
    AskTimeout,
    AuthenticationError,
    CalleeDown,
    ChildSpecError,
    CodecError,
    DecodeError,
    EncodeError,
    HandlerFailed,
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
from ._events import (
    AgentStarted,
    AgentStopped,
    ChildExited,
    ChildStarted,
    DeadLetter,
    DeadLetterReason,
    ExitReason,
    Failure,
    Fatal,
    NoProc,
    Normal,
    Shutdown,
    ShutdownOverrun,
    SystemEvent,
    TraceRecord,
)
from ._handlers import on
from ._message import message, message_class, message_tag
from ._node import Node, NodeStartError, spawn_container
from ._open import open_container
from ._ref import AgentRef
from ._rpc import Proxy, expose
from ._run import run
from ._simnet import SimNetwork
from ._spec import AutoShutdown, Backoff, ChildSpec, Directive, Overflow, Restart, Strategy
from ._supervisor import DynamicSupervisor, Supervisor
from ._timers import TimerHandle
from ._watch import Down, Exit, LinkedActorFailed, MonitorRef

__all__ = [
    "Agent",
    "AgentRef",
    "AgentStarted",
    "AgentStateError",
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
    "NoHandler",
    "NoProc",
    "Node",
    "NodeStartError",
    "Normal",
    "NotExposed",
    "Overflow",
    "ProtocolError",
    "Proxy",
    "RealClock",
    "RemoteError",
    "Restart",
    "RunReport",
    "Shutdown",
    "ShutdownOverrun",
    "SimNetwork",
    "Strategy",
    "Supervisor",
    "SupervisorCrashed",
    "SupervisorEscalation",
    "SupervisorStartError",
    "SystemEvent",
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
