"""The codec: what travels, what fails, and how it fails; the strict container option."""

from __future__ import annotations

import datetime
import enum
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pytest

import triomas
from triomas import Agent, Codec, DecodeError, EncodeError, message, on


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@message(tag="codec.Point")
class Point:
    x: int
    y: int


@message(tag="codec.Rich")
class Rich:
    point: Point
    when: datetime.datetime
    ident: uuid.UUID
    color: Color
    pair: tuple[int, str]
    counts: dict[str, int]
    names: list[str]
    maybe: int | None = None


@message(tag="codec.Flat")
class Flat:
    n: int
    s: str
    f: float
    b: bytes


@message(tag="codec.Keyword")
class Keyword:
    a: int
    b: str = attrs.field(kw_only=True)


@message(tag="codec.Loose")
class Loose:
    value: Any


@message(tag="codec.Money")
class Money:
    amount: Decimal


def test_nested_and_library_types_round_trip() -> None:
    codec = Codec()
    msg = Rich(
        Point(1, 2),
        datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        uuid.UUID(int=7),
        Color.BLUE,
        (3, "x"),
        {"a": 1},
        ["p", "q"],
    )
    assert codec.roundtrip(msg) == msg
    assert codec.roundtrip(attrs.evolve(msg, maybe=4)).maybe == 4


def test_the_body_travels_as_tag_and_field_array() -> None:
    codec = Codec()
    assert codec.encode_body(Flat(1, "s", 2.5, b"b")) == ("codec.Flat", (1, "s", 2.5, b"b"))
    assert codec.decode_body("codec.Flat", [1, "s", 2, b"b"]) == Flat(1, "s", 2.0, b"b")


def test_keyword_only_fields() -> None:
    assert Codec().roundtrip(Keyword(1, b="x")) == Keyword(1, b="x")


def test_untyped_values_travel_as_msgpack_types() -> None:
    codec = Codec()
    when = datetime.datetime(2026, 5, 6, tzinfo=datetime.UTC)
    value = [Point(1, 2), uuid.UUID(int=3), when, {"k": (1, 2)}, None, b"raw"]
    assert codec.roundtrip_value(value) == [
        Point(1, 2),
        uuid.UUID(int=3),
        when,
        {"k": [1, 2]},
        None,
        b"raw",
    ]
    assert codec.roundtrip(Loose(Point(5, 6))) == Loose(Point(5, 6))


@pytest.mark.parametrize(
    ("tag", "values", "problem"),
    [
        ("codec.Nope", [], "unknown message tag 'codec.Nope'"),
        (7, [], "tag must be a string"),
        ("codec.Point", [1], "1 field values for 2 fields"),
        ("codec.Point", [1, "2"], r"codec.Point.y: expected int, got str"),
        ("codec.Point", [True, 2], r"codec.Point.x: expected int, got bool"),
        ("codec.Flat", [1, "s", "f", b""], r"codec.Flat.f: expected float, got str"),
        ("codec.Point", {"x": 1, "y": 2}, "must be an array"),
        ("codec.Rich", [1, 2, 3, 4, 5, 6, 7, 8], "codec.Rich: "),
    ],
)
def test_bad_bodies_fail_with_a_clear_decode_error(tag: Any, values: Any, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        Codec().decode_body(tag, values)


def test_what_cannot_travel_fails_with_an_encode_error() -> None:
    codec = Codec()

    class NotAMessage:
        pass

    with pytest.raises(EncodeError, match="not a @message"):
        codec.encode_body(NotAMessage())
    with pytest.raises(EncodeError, match="naive datetime"):
        codec.pack(datetime.datetime(2026, 1, 1))
    with pytest.raises(EncodeError, match="cannot plan"):
        codec.encode_body(Money(Decimal("1.5")))
    with pytest.raises(DecodeError, match="undecodable payload"):
        codec.unpack(b"\xc1")


def test_user_hooks_for_their_own_types() -> None:
    codec = Codec()
    codec.converter.register_unstructure_hook(Decimal, str)
    codec.converter.register_structure_hook(Decimal, lambda value, _: Decimal(value))
    assert codec.roundtrip(Money(Decimal("1.25"))) == Money(Decimal("1.25"))
    with pytest.raises(DecodeError, match=r"codec\.Money"):
        codec.decode_body("codec.Money", ["not a number"])


def test_forget_makes_later_hooks_count() -> None:
    codec = Codec()
    codec.converter.register_unstructure_hook(Decimal, str)
    codec.converter.register_structure_hook(Decimal, lambda value, _: Decimal(value))
    codec.roundtrip(Money(Decimal(1)))
    codec.converter.register_unstructure_hook(Decimal, lambda d: str(d * 2))
    assert codec.roundtrip(Money(Decimal(1))).amount == 1  # the plan was made already
    codec.forget()
    assert codec.roundtrip(Money(Decimal(1))).amount == 2


class Keeper(Agent):
    def __init__(self) -> None:
        self.got: list[Any] = []

    @on(Loose)
    def loose(self, msg: Loose) -> Any:
        self.got.append(msg.value)
        return msg.value


async def test_strict_containers_put_local_messages_through_the_codec() -> None:
    async with triomas.open_container(strict=True) as c:
        keeper = await c.spawn(Keeper)
        assert await c.ask(keeper, Loose((1, 2))) == [1, 2]  # the tuple became a list
        assert c.agent(keeper, Keeper).got == [[1, 2]]
        with pytest.raises(EncodeError):
            await c.ask(keeper, Loose(object()))
        with pytest.raises(EncodeError):
            c.publish(Loose(object()))


async def test_without_strict_local_messages_go_by_reference() -> None:
    async with triomas.open_container() as c:
        keeper = await c.spawn(Keeper)
        value = (1, 2)
        assert await c.ask(keeper, Loose(value)) is value


def test_dumps_and_loads_use_the_flat_array_form() -> None:
    import msgpack

    codec = Codec()
    data = codec.dumps(Flat(1, "s", 2.5, b"b"))
    assert msgpack.unpackb(data) == ["codec.Flat", 1, "s", 2.5, b"b"]
    assert codec.loads(data) == Flat(1, "s", 2.5, b"b")
    assert codec.loads(codec.dumps(Rich_example())) == Rich_example()
    for bad, problem in [
        (msgpack.packb(["codec.Flat", 1]), "1 field values for 4 fields"),
        (msgpack.packb(["codec.Nope"]), "unknown message tag"),
        (msgpack.packb({"a": 1}), "an array"),
        (msgpack.packb(["codec.Point", 1, "y"]), r"codec\.Point\.y: expected int"),
        (b"\xc1", "undecodable"),
    ]:
        with pytest.raises(DecodeError, match=problem):
            codec.loads(bad)
    with pytest.raises(EncodeError, match="not a @message"):
        codec.dumps(object())


def Rich_example() -> Rich:
    return Rich(
        Point(1, 2),
        datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC),
        uuid.UUID(int=1),
        Color.RED,
        (1, "a"),
        {},
        [],
        5,
    )
