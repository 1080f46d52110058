"""The codec: message bodies and reply values to msgpack bytes and back, never pickle."""

from __future__ import annotations

import datetime
import gc
import types
import uuid
from collections.abc import Callable
from typing import Any, final

import attrs
import cattrs
import msgpack
from cattrs.preconf.msgpack import make_converter

from .errors import DecodeError, EncodeError, MessageTagError
from .message import message_class, message_tag
from .ref import AgentRef

_NATIVE = (int, float, str, bytes, bool)

_EXT_MESSAGE = 1
_EXT_UUID = 2
_EXT_DATETIME = 3
_EXT_REF = 4

MAX_NESTING = 8
"""How deep messages may nest inside each other's untyped values on the wire."""
_GC_PAUSE = 64 * 1024


def _converter() -> cattrs.Converter:
    converter = make_converter()
    converter.register_unstructure_hook(uuid.UUID, str)
    converter.register_structure_hook(uuid.UUID, lambda value, _: uuid.UUID(value))
    # A reference travels as its address and arrives as a reference to send to.
    converter.register_unstructure_hook(AgentRef, lambda ref: ref.address)
    converter.register_structure_hook(AgentRef, lambda value, _: _ref(value))
    return converter


def _ref(value: Any) -> AgentRef:
    if type(value) is not str:
        raise DecodeError(f"an agent reference is an address string, not {type(value).__name__}")
    try:
        return AgentRef.parse(value)
    except ValueError as exc:
        raise DecodeError(str(exc)) from None


def _plain(cls: type) -> bool:
    """Whether building ``cls`` is only setting its slots: no validator, converter,
    default factory left to run, hash cache, or pre/post-init hook."""
    if any(hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")):
        return False
    if getattr(cls, "__attrs_attrs__", None) is None or "__slots__" not in cls.__dict__:
        return False
    if getattr(cls, "_attrs_cached_hash", None) is not None or "__attrs_cached_hash__" in dir(cls):
        return False
    for field in attrs.fields(cls):
        if field.validator is not None or field.converter is not None or not field.init:
            return False
        if not isinstance(getattr(cls, field.name, None), types.MemberDescriptorType):
            return False
    return True


@final
class _Plan:
    """How one ``@message`` class travels: its tag, then its init fields in order.

    ``encode`` and ``decode`` are generated per class (as attrs and cattrs do), so a
    field of a msgpack-native type costs one inline type check and nothing else.
    """

    __slots__ = ("_names", "cls", "decode", "dump", "encode", "load", "tag")

    def __init__(self, cls: type, converter: cattrs.Converter) -> None:
        self.cls = cls
        self.tag = message_tag(cls)
        fields = [f for f in attrs.fields(attrs.resolve_types(cls)) if f.init]
        scope: dict[str, Any] = {"cls": cls, "_bad": self._bad, "_float": self._float}
        getters: list[str] = []
        checks: list[str] = []
        args: list[str] = []
        for i, field in enumerate(fields):
            kind = field.type
            arg = f"v{i}"
            if kind is Any or kind is object:
                getters.append(f"m.{field.name}")  # untyped: travels as a value
            elif kind in _NATIVE:
                getters.append(f"m.{field.name}")
                scope[f"t{i}"] = kind
                if kind is float:
                    checks.append(f"    if type({arg}) is not float: {arg} = _float({arg}, {i})")
                else:
                    checks.append(f"    if type({arg}) is not t{i}: _bad({i}, {arg}, t{i})")
            else:
                scope[f"u{i}"] = converter.get_unstructure_hook(kind)
                scope[f"s{i}"] = converter.get_structure_hook(kind)
                scope[f"t{i}"] = kind
                getters.append(f"u{i}(m.{field.name})")
                checks.append(f"    {arg} = s{i}({arg}, t{i})")
            args.append(f"{field.alias}={arg}" if field.kw_only else arg)
        self._names = tuple(f.name for f in fields)
        names = ", ".join(f"v{i}" for i in range(len(fields)))
        unpack = (
            f"    try:\n        {names}, = values\n    except ValueError:\n"
            f"        _bad(-1, values, None)\n"
            if fields
            else "    if values: _bad(-1, values, None)\n"
        )
        load = (
            f"    try:\n        _, {names}, = item\n    except ValueError:\n"
            f"        _bad(-1, item[1:], None)\n"
            if fields
            else "    if len(item) != 1: _bad(-1, item[1:], None)\n"
        )
        build = f"    return cls({', '.join(args)})\n"
        if _plain(cls):
            # Values are checked already and nothing else runs in __init__: fill the
            # slots directly, as attrs' own __init__ would, minus its per-call setup.
            scope["_new"] = object.__new__
            build = "    m = _new(cls)\n"
            for i, field in enumerate(fields):
                scope[f"set{i}"] = getattr(cls, field.name).__set__
                build += f"    set{i}(m, v{i})\n"
            build += "    return m\n"
        scope["tag"] = self.tag
        body = "".join(line + "\n" for line in checks) + build
        source = (
            f"def encode(m):\n    return ({', '.join(getters)}{',' if getters else ''})\n"
            f"def dump(m):\n    return (tag, {''.join(g + ', ' for g in getters)})\n"
            f"def decode(values):\n{unpack}{body}"
            f"def load(item):\n{load}{body}"
        )
        exec(compile(source, f"<triomas codec for {self.tag}>", "exec"), scope)
        self.encode: Callable[[Any], tuple[Any, ...]] = scope["encode"]
        """The field values of a message, in order."""
        self.dump: Callable[[Any], tuple[Any, ...]] = scope["dump"]
        """The tag, then the field values: the flat array form."""
        self.decode: Callable[[Any], Any] = scope["decode"]
        """The message from its field values."""
        self.load: Callable[[Any], Any] = scope["load"]
        """The message from its flat array form (the tag is not looked at)."""

    def _float(self, value: Any, index: int) -> float:
        if type(value) is not int:
            self._bad(index, value, float)
        return float(value)

    def _bad(self, index: int, value: Any, kind: type | None) -> None:
        if kind is None:
            raise DecodeError(
                f"{self.tag}: {len(value)} field values for {len(self._names)} fields"
            )
        raise DecodeError(
            f"{self.tag}.{self._names[index]}: expected {kind.__name__}, got {type(value).__name__}"
        )


@final
class Codec:
    """Turns messages and values into msgpack bytes and back, by declared type tags.

    A message body travels as its tag followed by its field values in declaration
    order (the array form); field values go through one cattrs converter, made by
    ``cattrs.preconf.msgpack``, so nested attrs classes, enums, datetimes, UUIDs,
    tuples, dicts and optional fields work. Register hooks for your own types on
    :attr:`converter` *before* the first message of a class is encoded, or call
    :meth:`forget` after.

    Reply values and RPC arguments are untyped: msgpack's own types, ``@message``
    instances, aware datetimes and UUIDs travel as themselves; tuples arrive as
    lists. Pickle is never used.
    """

    def __init__(self, converter: cattrs.Converter | None = None) -> None:
        self.converter: cattrs.Converter = converter if converter is not None else _converter()
        self._plans: dict[type, _Plan] = {}
        self._depth = 0  # of nested message extensions being decoded
        self._by_tag: dict[str, _Plan] = {}
        # One reused packer for whole payloads; _default packs nested messages with
        # fresh ones, since a packer cannot be re-entered.
        self._packer = msgpack.Packer(default=self._default)

    def forget(self) -> None:
        """Drop the per-class plans, so that hooks registered since take effect."""
        self._plans.clear()
        self._by_tag.clear()

    def _plan(self, cls: type) -> _Plan:
        plan = self._plans.get(cls)
        if plan is None:
            try:
                plan = _Plan(cls, self.converter)
            except MessageTagError:
                raise
            except Exception as exc:
                raise EncodeError(f"cannot plan the encoding of {cls.__qualname__}: {exc}") from exc
            self._plans[cls] = plan
            self._by_tag[plan.tag] = plan
        return plan

    # ---- message bodies -----------------------------------------------------------------

    def encode_body(self, msg: Any) -> tuple[str, tuple[Any, ...]]:
        """The tag and field values of a ``@message`` instance (msgpack-ready)."""
        plan = self._plans.get(type(msg))
        if plan is None:
            plan = self._encoding_plan(msg)
        try:
            return plan.tag, plan.encode(msg)
        except Exception as exc:
            raise EncodeError(f"cannot encode {msg!r}: {exc}") from exc

    def _encoding_plan(self, msg: Any) -> _Plan:
        try:
            return self._plan(type(msg))
        except MessageTagError:
            raise EncodeError(
                f"{type(msg).__qualname__} is not a @message class and cannot travel"
            ) from None

    def _decoding_plan(self, tag: Any) -> _Plan:
        if not isinstance(tag, str):
            raise DecodeError(f"a message tag must be a string, not {type(tag).__name__}")
        try:
            return self._plan(message_class(tag))
        except MessageTagError:
            raise DecodeError(f"unknown message tag {tag!r}") from None

    def decode_body(self, tag: Any, values: Any) -> Any:
        """The message of class ``tag`` built from ``values``; :exc:`DecodeError` if bad."""
        plan = self._by_tag.get(tag) if type(tag) is str else None
        if plan is None:
            plan = self._decoding_plan(tag)
        if not isinstance(values, (list, tuple)):
            raise DecodeError(f"{tag}: field values must be an array")
        try:
            return plan.decode(values)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"{tag}: {type(exc).__name__}: {exc}") from exc

    def dump(self, msg: Any) -> tuple[Any, ...]:
        """A ``@message`` instance in its flat array form ``(tag, *fields)``, msgpack-ready."""
        plan = self._plans.get(type(msg))
        if plan is None:
            plan = self._encoding_plan(msg)
        try:
            return plan.dump(msg)
        except Exception as exc:
            raise EncodeError(f"cannot encode {msg!r:.200}: {exc}") from exc

    def dumps(self, msg: Any) -> bytes:
        """A ``@message`` instance as msgpack bytes: the array ``[tag, *fields]``."""
        # PERF: pack_with((), msg) would do, at a call more: 2.03 -> 1.94 x naive (net_codec)
        plan = self._plans.get(type(msg))
        if plan is None:
            plan = self._encoding_plan(msg)
        try:
            return self._packer.pack(plan.dump(msg))  # type: ignore[no-any-return]
        except EncodeError:
            raise
        except Exception as exc:
            raise EncodeError(f"cannot encode {msg!r:.200}: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        """The message :meth:`dumps` made; :exc:`DecodeError` for anything else.

        One pass: the first error inside (a nested message included) is the one
        reported, and no part of ``data`` is decoded twice.
        """
        item = self.unpack(data)
        if type(item) is not list or not item:
            raise DecodeError("a message is an array [tag, *fields]")
        return self.load(item)

    def load(self, item: list[Any]) -> Any:
        """The message from its array form ``[tag, *fields]`` (already unpacked)."""
        tag = item[0]
        plan = self._by_tag.get(tag) if type(tag) is str else None
        if plan is None:
            plan = self._decoding_plan(tag)
        try:
            return plan.load(item)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"{tag}: {type(exc).__name__}: {exc}") from exc

    # ---- whole payloads -----------------------------------------------------------------

    def pack_with(self, header: tuple[Any, ...], msg: Any) -> bytes:
        """msgpack bytes of the array ``header + dump(msg)``: a payload that ends with a
        message in its flat form (PERF: one call, where ``pack`` and ``dump`` are two)."""
        plan = self._plans.get(type(msg))
        if plan is None:
            plan = self._encoding_plan(msg)
        try:
            return self._packer.pack(header + plan.dump(msg))  # type: ignore[no-any-return]
        except EncodeError:
            raise
        except Exception as exc:
            raise EncodeError(f"cannot encode {msg!r:.200}: {exc}") from exc

    def pack(self, obj: Any) -> bytes:
        """msgpack bytes of ``obj``; ``@message`` instances inside travel by tag."""
        try:
            return self._packer.pack(obj)  # type: ignore[no-any-return]
        except EncodeError:
            raise
        except Exception as exc:
            raise EncodeError(f"cannot encode {obj!r:.200}: {exc}") from exc

    def unpack(self, data: bytes) -> Any:
        """The object packed by :meth:`pack`; :exc:`DecodeError` for bad bytes or tags.

        Messages nest (a message in an untyped field of another) at most
        :data:`MAX_NESTING` deep.
        """
        # PERF: a big payload builds many containers at once; the cyclic collector would
        # scan them again and again while they are built (8x the decode time for a
        # frame of empty arrays). What msgpack builds holds no cycles.
        paused = len(data) >= _GC_PAUSE and gc.isenabled()
        if paused:
            gc.disable()
        try:
            return msgpack.unpackb(data, ext_hook=self._ext, strict_map_key=False)
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(f"undecodable payload: {type(exc).__name__}: {exc}") from exc
        finally:
            if paused:
                gc.enable()

    def roundtrip(self, msg: Any) -> Any:
        """``msg`` after encoding and decoding: what a remote receiver would get."""
        return self.loads(self.dumps(msg))

    def roundtrip_value(self, value: Any) -> Any:
        """``value`` after :meth:`pack` and :meth:`unpack`."""
        return self.unpack(self.pack(value))

    def _default(self, obj: Any) -> Any:
        if type(obj) is AgentRef:
            return msgpack.ExtType(_EXT_REF, obj.address.encode())
        if isinstance(obj, uuid.UUID):
            return msgpack.ExtType(_EXT_UUID, obj.bytes)
        if isinstance(obj, datetime.datetime):
            if obj.tzinfo is None:
                raise EncodeError(f"naive datetime {obj!r} cannot travel; give it a timezone")
            return msgpack.ExtType(_EXT_DATETIME, msgpack.packb(obj.timestamp()))
        if isinstance(obj, int):  # msgpack hands over what is past its 64 bits
            raise EncodeError(f"the integer {obj} is out of the wire's range (-2**63 to 2**64-1)")
        return msgpack.ExtType(_EXT_MESSAGE, msgpack.packb(self.dump(obj), default=self._default))

    def _ext(self, code: int, data: bytes) -> Any:
        if code == _EXT_MESSAGE:
            if self._depth >= MAX_NESTING:
                raise DecodeError(f"messages nested more than {MAX_NESTING} deep")
            self._depth += 1
            try:
                item = msgpack.unpackb(data, ext_hook=self._ext, strict_map_key=False)
            finally:
                self._depth -= 1
            if type(item) is not list or not item:
                raise DecodeError("a message is an array [tag, *fields]")
            return self.load(item)
        if code == _EXT_REF:
            try:
                address = data.decode()
            except UnicodeDecodeError:
                raise DecodeError("an agent reference is a UTF-8 address") from None
            return _ref(address)
        if code == _EXT_UUID:
            if len(data) != 16:
                raise DecodeError("a UUID is 16 bytes")
            return uuid.UUID(bytes=data)
        if code == _EXT_DATETIME:
            stamp = msgpack.unpackb(data)
            if type(stamp) is not float and type(stamp) is not int:
                raise DecodeError("a datetime is a timestamp")
            try:
                return datetime.datetime.fromtimestamp(stamp, datetime.UTC)
            except (OverflowError, OSError, ValueError) as exc:
                raise DecodeError(f"bad timestamp: {exc}") from None
        raise DecodeError(f"unknown msgpack extension type {code}")


DEFAULT_CODEC = Codec()
"""The codec containers use unless given another."""
