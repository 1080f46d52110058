"""triomas: supervised multi-agent runtime on trio, in real or deterministic virtual time."""

from ._agent import Agent
from ._clock import Clock, ExternalClock, RealClock, VirtualClock
from ._container import Container, RunReport, open_container
from ._envelope import Envelope
from ._errors import (
    AgentStateError,
    AskTimeout,
    CalleeDown,
    MessageTagError,
    NameTaken,
    NoHandler,
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
    NoProc,
    Normal,
    Shutdown,
    SystemEvent,
    TraceRecord,
)
from ._handlers import on
from ._message import message, message_class, message_tag
from ._ref import AgentRef
from ._run import run
from ._timers import TimerHandle
from ._watch import Down, Exit, LinkedActorFailed, MonitorRef

__all__ = [
    "Agent",
    "AgentRef",
    "AgentStarted",
    "AgentStateError",
    "AgentStopped",
    "AskTimeout",
    "CalleeDown",
    "ChildExited",
    "ChildStarted",
    "Clock",
    "Container",
    "DeadLetter",
    "DeadLetterReason",
    "Down",
    "Envelope",
    "Exit",
    "ExitReason",
    "ExternalClock",
    "Failure",
    "LinkedActorFailed",
    "MessageTagError",
    "MonitorRef",
    "NameTaken",
    "NoHandler",
    "NoProc",
    "Normal",
    "RealClock",
    "RunReport",
    "Shutdown",
    "SystemEvent",
    "TimerHandle",
    "TraceRecord",
    "TriomasError",
    "VirtualClock",
    "VirtualTimeError",
    "message",
    "message_class",
    "message_tag",
    "on",
    "open_container",
    "run",
]
