"""The public surface is pinned: a change to it is a deliberate change to this test."""

from __future__ import annotations

import inspect

import triomas
import triomas.bdi
import triomas.mosaik
import triomas.otel
import triomas.testing
import triomas.testing.strategies

PUBLIC = {
    "Agent",
    "AutoShutdown",
    "Backoff",
    "ChildExited",
    "ChildSpec",
    "ChildSpecError",
    "ChildStarted",
    "Directive",
    "DynamicSupervisor",
    "Fatal",
    "HandlerFailed",
    "MailboxFull",
    "Overflow",
    "Restart",
    "ShutdownOverrun",
    "Strategy",
    "Supervisor",
    "SupervisorCrashed",
    "SupervisorEscalation",
    "SupervisorStartError",
    "Down",
    "Exit",
    "LinkedActorFailed",
    "MonitorRef",
    "AgentRef",
    "AgentStarted",
    "AgentStateError",
    "AgentStats",
    "AgentStopped",
    "AskTimeout",
    "CalleeDown",
    "Clock",
    "Container",
    "ContainerStats",
    "DeadLetter",
    "DeadLetterReason",
    "Envelope",
    "ExitReason",
    "ExternalClock",
    "Failure",
    "MessageTagError",
    "NameTaken",
    "NoHandler",
    "NoConnection",
    "Observer",
    "NoProc",
    "Normal",
    "RealClock",
    "Progress",
    "RunReport",
    "SendOptions",
    "Shutdown",
    "StartChild",
    "SystemEvent",
    "TerminateChild",
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
    # the network
    "AuthenticationError",
    "Codec",
    "CodecError",
    "DecodeError",
    "EncodeError",
    "Node",
    "NodeStartError",
    "NotExposed",
    "ProtocolError",
    "Proxy",
    "RemoteError",
    "expose",
    "spawn_container",
    "SimNetwork",
}


BDI = {
    "PROTOCOL",
    "AcceptProposal",
    "Achieve",
    "ActionError",
    "Admin",
    "Any",
    "AskAll",
    "AskHow",
    "AskOne",
    "BDIAgent",
    "Belief",
    "Bid",
    "Cancel",
    "Cfp",
    "Channel",
    "ContractNetParticipant",
    "ContractNetResult",
    "Environment",
    "Event",
    "FipaFailure",
    "Goal",
    "InformDone",
    "InformResult",
    "NoApplicablePlan",
    "NotUnderstood",
    "Percept",
    "PlanFailure",
    "PlanSpec",
    "Propose",
    "Refuse",
    "RejectProposal",
    "RequestFailed",
    "Signal",
    "Tell",
    "TellHow",
    "Trigger",
    "Unachieve",
    "Untell",
    "UntellHow",
    "Wildcard",
    "action",
    "contract_net",
    "gain",
    "lose",
    "plan",
    "plan_spec",
    "teachable",
    "test",
}


OTEL = {"SCOPE", "Telemetry", "instrument"}
MOSAIK = {
    "MAX_FRAME",
    "AgentCrashed",
    "Inputs",
    "Model",
    "MosaikLink",
    "SimType",
    "Simulator",
    "connect",
    "listen",
    "mosaik_of",
    "serve",
}


def test_public_names_are_pinned() -> None:
    assert set(triomas.__all__) == PUBLIC
    assert set(triomas.testing.__all__) == {
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
    }
    assert triomas.testing.strategies.__all__ == ["messages"]
    assert set(triomas.mosaik.__all__) == MOSAIK
    assert set(triomas.otel.__all__) == OTEL
    assert set(triomas.bdi.__all__) == BDI
    for module in (triomas, triomas.bdi, triomas.mosaik, triomas.otel):
        for name in module.__all__:
            assert hasattr(module, name)


def test_every_public_name_is_documented() -> None:
    missing = []
    for module in (triomas, triomas.testing, triomas.bdi, triomas.mosaik, triomas.otel):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                if not (obj.__doc__ or "").strip():
                    missing.append(name)
                for attr, member in vars(obj).items() if inspect.isclass(obj) else ():
                    if attr.startswith("_") or (
                        not callable(member) and not isinstance(member, property)
                    ):
                        continue
                    if not (getattr(member, "__doc__", "") or "").strip():
                        missing.append(f"{name}.{attr}")
    assert missing == []


def test_public_classes_live_in_private_modules_and_show_their_public_one() -> None:
    # Defined in a private module, shown under the public one (triomas.CalleeDown).
    for module in (
        triomas,
        triomas.bdi,
        triomas.testing,
        triomas.testing.strategies,
        triomas.mosaik,
        triomas.otel,
    ):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                source = inspect.getsourcefile(inspect.unwrap(obj))
                assert source is not None
                assert "/_" in source.replace("\\", "/"), (name, source)
                assert obj.__module__ == module.__name__, (name, obj.__module__)
    assert repr(triomas.CalleeDown) == "<class 'triomas.CalleeDown'>"
    assert triomas.Agent.send.__module__ == "triomas"
