"""@message classes: frozen, slotted, tagged; envelopes and references."""

from __future__ import annotations

import attrs
import pytest

import triomas
from triomas import AgentRef, Envelope, MessageTagError, message, message_class, message_tag


@message
class Point:
    x: int
    y: int = 0


@message(tag="geo.Point")
class OtherPoint:
    lat: float


def test_message_is_frozen_slotted_attrs() -> None:
    p = Point(1)
    assert attrs.has(Point)
    assert not hasattr(p, "__dict__")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    assert p == Point(1, 0)
    assert hash(p) == hash(Point(1, 0))


def test_tags_are_declared_and_unique() -> None:
    assert message_tag(Point) == "Point"
    assert message_tag(OtherPoint) == "geo.Point"
    assert message_class("geo.Point") is OtherPoint
    with pytest.raises(MessageTagError, match="already used"):

        @message(tag="Point")
        class Clash:
            z: int

    with pytest.raises(MessageTagError, match="not a @message"):
        message_tag(int)
    with pytest.raises(MessageTagError, match="no message class"):
        message_class("Nope")
    with pytest.raises(MessageTagError, match="dotted name"):

        @message(tag="not a name")
        class Bad:
            z: int


def test_redefining_the_same_class_is_not_a_clash() -> None:
    namespace: dict[str, object] = {"message": message, "__name__": __name__}
    source = "@message\nclass Point:\n    x: int\n    y: int = 0\n"
    exec(compile(source, __file__, "exec"), namespace)  # same module and qualname
    assert message_class("Point") is namespace["Point"]
    message_class("Point")  # still resolvable


def test_agent_ref_addresses() -> None:
    ref = AgentRef.parse("tcp://127.0.0.1:5555/worker-1")
    assert (ref.container, ref.name) == ("tcp://127.0.0.1:5555", "worker-1")
    assert str(ref) == ref.address == "tcp://127.0.0.1:5555/worker-1"
    unix = AgentRef.parse("unix:///tmp/x.sock/a")
    assert (unix.container, unix.name) == ("unix:///tmp/x.sock", "a")
    for bad in ("no-scheme", "local://c1", "local://c1/", "://x/y"):
        with pytest.raises(ValueError, match=r"address|name"):
            AgentRef.parse(bad)
    assert AgentRef("local://c", "a") == AgentRef.parse("local://c/a")


def test_envelope_defaults() -> None:
    env = Envelope(Point(1))
    assert (env.sender, env.receiver, env.performative, env.reply_with) == (None, None, None, None)
    assert env.sent_at == 0.0


def test_handlers_are_checked_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="must take"):

        class Bad(triomas.Agent):
            @triomas.on(Point)
            def handle(self) -> None: ...

    with pytest.raises(TypeError, match="message class"):
        triomas.on("Point")  # type: ignore[arg-type]


async def test_handler_lookup_follows_the_message_mro(vc: triomas.Container) -> None:
    @triomas.message(tag="mro.Base")
    class Base:
        pass

    @triomas.message(tag="mro.Derived")
    class Derived(Base):
        pass

    class Handler(triomas.Agent):
        @triomas.on(Base)
        def base(self, msg: Base) -> str:
            return type(msg).__name__

    ref = await vc.spawn(Handler)
    assert await vc.ask(ref, Derived()) == "Derived"
    assert await vc.ask(ref, Derived()) == "Derived"


async def test_send_takes_the_send_options_and_nothing_else(vc: triomas.Container) -> None:
    class Keeper(triomas.Agent):
        def __init__(self) -> None:
            self.got: list[tuple[str, str | None, str | None, str | None]] = []

        @triomas.on(Point)
        def point(self, msg: Point, env: Envelope) -> None:
            self.got.append((env.topic, env.performative, env.conversation_id, env.protocol))

    keeper = await vc.spawn(Keeper, name="keeper")
    sender = vc.agent(await vc.spawn(Keeper, name="sender"))
    sender.send(keeper, Point(1, 2), topic=None, performative=None)  # None: as if left out
    sender.send(keeper, Point(1, 2), performative="inform", conversation_id="c1")
    sender.send(keeper, Point(1, 2), topic="points", protocol="fipa-request")
    with pytest.raises(TypeError, match="unexpected keyword argument 'perfomative'"):
        sender.send(keeper, Point(1, 2), perfomative="inform")  # type: ignore[call-arg]
    await vc.run_until_idle()
    assert vc.agent(keeper).got == [  # type: ignore[attr-defined]
        ("Point", None, None, None),
        ("Point", "inform", "c1", None),
        ("points", None, None, "fipa-request"),
    ]


def test_references_sort_by_container_then_name() -> None:
    refs = [
        triomas.AgentRef("tcp://b:1", "a"),
        triomas.AgentRef("local://c", "z"),
        triomas.AgentRef("local://c", "b"),
    ]
    assert [str(r) for r in sorted(refs)] == ["local://c/b", "local://c/z", "tcp://b:1/a"]
    assert triomas.AgentRef("local://c", "b") < triomas.AgentRef("local://c", "z")


def test_an_integer_past_64_bits_says_so() -> None:
    from triomas import Codec, EncodeError

    @message(tag="msgs.Big")
    class Big:
        n: int

    with pytest.raises(EncodeError, match=r"integer -9223372036854775809 is out of the wire"):
        Codec().dumps(Big(-(2**63) - 1))
