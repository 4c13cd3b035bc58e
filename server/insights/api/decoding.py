"""Request decoding that never fails: every byte string becomes a message or a ``Rejected`` naming the
bad fields, before any servicer runs.

grpc calls a method's ``request_deserializer`` before the interceptor's code runs; a deserializer that
raises (protobuf refuses a string field that is not UTF-8) makes grpc answer INTERNAL on its own, and
Envoy turns that into a 500. So the interceptor installs ``deserializer_for(method)`` instead: it parses,
and on failure walks the wire format against the request's descriptor to find each string field whose
bytes are not UTF-8 (an encoded lone surrogate such as ``%ED%A0%80`` included), by its REST JSON path
(``interactions[3].customerId``). A parsed message is then checked for what protobuf accepts but nothing
downstream can hold: NUL characters in any string (PostgreSQL text cannot store them), and timestamps
or durations outside the range their types define (a converter would overflow). The interceptor raises
the ``Rejected`` violations as one ``ValidationError`` (INVALID_ARGUMENT, 400), once, at the boundary.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from insights.errors import FieldViolation

MAX_DEPTH = 100
"""protobuf's own recursion limit: deeper messages do not parse."""

# The ranges google/protobuf/timestamp.proto and duration.proto define.
MIN_TIMESTAMP_S, MAX_TIMESTAMP_S = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31
MAX_DURATION_S = 315_576_000_000  # 10,000 years

NOT_UTF8 = "must be valid UTF-8 text"
SURROGATE = "must be valid UTF-8 text (it holds an encoded surrogate, which UTF-8 does not allow)"
HAS_NUL = "must not contain NUL characters"
BAD_TIMESTAMP = "is not a valid timestamp (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, nanos 0..999999999)"
BAD_DURATION = "is not a valid duration (at most 10,000 years, nanos of the same sign)"

_STRUCT, _VALUE, _LIST = "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"
_TIMESTAMP, _DURATION = "google.protobuf.Timestamp", "google.protobuf.Duration"
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Rejected:
    """What a deserializer returns for a request that must not reach a servicer."""

    violations: tuple[FieldViolation, ...]


Deserializer = Callable[[bytes], "Message | Rejected"]


def _message_type(field: FieldDescriptor) -> Descriptor:
    message_type = field.message_type
    assert message_type is not None, field.full_name
    return message_type


def join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def key_path(base: str, key: str) -> str:
    """A map or Struct entry as a REST client writes it: ``metadata.device``, ``metadata["a b"]``."""
    if _IDENTIFIER.fullmatch(key):
        return join(base, key)
    return f"{base}[{json.dumps(key)}]"


def _root(base: str) -> str:
    return base or "request"


# --- the deserializer ------------------------------------------------------------------------------


@cache
def message_class(full_name: str) -> type[Message]:
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)


@cache
def deserializer_for(full_name: str, body: str = "") -> Deserializer:
    """The total deserializer of one request message type (by full name: ``insights.v1.LoginRequest``).

    ``body``: the field a REST route's body is (``interaction`` for ``POST /api/data/ingest``); fields
    are then named as REST clients write them, relative to it (``customerId``), as the core names them."""
    cls = message_class(full_name)
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)

    def relative(violations: list[FieldViolation]) -> tuple[FieldViolation, ...]:
        if not body:
            return tuple(violations)
        return tuple(FieldViolation(_relative(v.field, body), v.description) for v in violations)

    def deserialize(data: bytes) -> Message | Rejected:
        try:
            message = cls.FromString(data)
        except (DecodeError, RecursionError, ValueError):
            return Rejected(relative(diagnose(data, descriptor)))
        try:
            violations = check(message, full=b"\x00" in data)
        except Exception:  # a checker bug must not make grpc answer INTERNAL on its own
            return Rejected((FieldViolation("request", "could not be checked"),))
        return Rejected(relative(violations)) if violations else message

    return deserialize


def _relative(field: str, body: str) -> str:
    if field == body:
        return "request"
    return field.removeprefix(f"{body}.")


def rest_body_field(method: str) -> str:
    """The request field a method's REST body is (its google.api.http ``body``), if it is one field."""
    from google.api import annotations_pb2

    service, _, name = method.strip("/").partition("/")
    try:
        found = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    except (KeyError, AttributeError):
        return ""
    options = found.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return ""
    body = str(options.Extensions[annotations_pb2.http].body)
    return "" if body in ("", "*") else body


def guard(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    """Makes any deserializer total (for a method whose request type the pool does not know)."""

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data) if deserializer is not None else data
        except Exception:
            return Rejected((FieldViolation("request", "is not a valid protobuf message"),))

    return deserialize


# --- after a failed parse: which field? -----------------------------------------------------------


class _Malformed(Exception):
    def __init__(self, path: str, what: str) -> None:
        super().__init__(path)
        self.path = path
        self.what = what


def diagnose(data: bytes, descriptor: Descriptor) -> list[FieldViolation]:
    """Every string field that is not UTF-8 (or holds NUL), by path; else where the encoding breaks."""
    found: list[FieldViolation] = []
    try:
        _walk_wire(data, descriptor, "", found, 0)
    except _Malformed as exc:
        if not found:
            return [FieldViolation(_root(exc.path), f"is not a valid {exc.what} message (malformed protobuf)")]
    if not found:
        # The wire format is sound and every string is UTF-8: what protobuf refused is something else.
        return [FieldViolation("request", f"is not a valid {descriptor.full_name} message")]
    return found


def _varint(data: bytes, pos: int, path: str, what: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed(path, what)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _skip(data: bytes, pos: int, wire_type: int, number: int, path: str, what: str, depth: int) -> int:
    if wire_type == 0:
        return _varint(data, pos, path, what)[1]
    if wire_type == 1:
        end = pos + 8
    elif wire_type == 5:
        end = pos + 4
    elif wire_type == 2:
        length, pos = _varint(data, pos, path, what)
        end = pos + length
    elif wire_type == 3:  # a group (unknown field of an old proto2 sender): skip to its end tag
        if depth > MAX_DEPTH:
            raise _Malformed(path, what)
        while True:
            tag, pos = _varint(data, pos, path, what)
            if tag & 7 == 4:
                if tag >> 3 != number:
                    raise _Malformed(path, what)
                return pos
            pos = _skip(data, pos, tag & 7, tag >> 3, path, what, depth + 1)
    else:
        raise _Malformed(path, what)
    if end > len(data):
        raise _Malformed(path, what)
    return end


def _check_text(raw: bytes, path: str, found: list[FieldViolation]) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        found.append(FieldViolation(_root(path), SURROGATE if _SURROGATE_BYTES.search(raw) else NOT_UTF8))
        return None
    if "\x00" in text:
        found.append(FieldViolation(_root(path), HAS_NUL))
    return text


def _walk_wire(data: bytes, descriptor: Descriptor, path: str, found: list[FieldViolation], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Malformed(path, descriptor.full_name)
    what = descriptor.full_name
    fields = descriptor.fields_by_number
    counts: dict[int, int] = {}
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos, path, what)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed(path, what)
        field = fields.get(number)
        if field is None or wire_type != 2 or field.type not in (FieldDescriptor.TYPE_STRING,
                                                                 FieldDescriptor.TYPE_MESSAGE):
            pos = _skip(data, pos, wire_type, number, path, what, depth)
            continue
        length, start = _varint(data, pos, path, what)
        end = start + length
        if end > len(data):
            raise _Malformed(path, what)
        pos = end
        index = counts.get(number, 0)
        counts[number] = index + 1
        raw = data[start:end]
        if field.type == FieldDescriptor.TYPE_STRING:
            _check_text(raw, _element_path(descriptor, field, path, index), found)
        elif _message_type(field).GetOptions().map_entry:
            _walk_entry(raw, field, path, found, depth + 1)
        else:
            _walk_wire(raw, _message_type(field), _element_path(descriptor, field, path, index), found, depth + 1)


def _element_path(owner: Descriptor, field: FieldDescriptor, path: str, index: int) -> str:
    if owner.full_name == _VALUE:
        return path  # a Value is its JSON value: no name of its own
    if owner.full_name == _LIST:
        return f"{path}[{index}]"
    if field.is_repeated:
        return f"{join(path, field.json_name)}[{index}]"
    return join(path, field.json_name)


def _walk_entry(data: bytes, field: FieldDescriptor, path: str, found: list[FieldViolation], depth: int) -> None:
    """One map entry (``key = 1``, ``value = 2``); a Struct's entries are its JSON object's members."""
    entry = _message_type(field)
    in_struct = field.containing_type is not None and field.containing_type.full_name == _STRUCT
    base = path if in_struct else join(path, field.json_name)
    key: str | None = None
    value: bytes | None = None
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos, base, entry.full_name)
        number, wire_type = tag >> 3, tag & 7
        if wire_type != 2 or number not in (1, 2):
            pos = _skip(data, pos, wire_type, number, base, entry.full_name, depth)
            continue
        length, start = _varint(data, pos, base, entry.full_name)
        pos = start + length
        if pos > len(data):
            raise _Malformed(base, entry.full_name)
        if number == 1 and entry.fields_by_number[1].type == FieldDescriptor.TYPE_STRING:
            key = _check_text(data[start:pos], f"{_root(base)} (a key)", found)
        elif number == 2:
            value = data[start:pos]
    value_field = entry.fields_by_number[2]
    if value is None:
        return
    where = key_path(base, key) if key is not None else base
    if value_field.type == FieldDescriptor.TYPE_STRING:
        _check_text(value, where, found)
    elif value_field.type == FieldDescriptor.TYPE_MESSAGE:
        _walk_wire(value, _message_type(value_field), where, found, depth + 1)


# --- after a successful parse: what protobuf accepts and nothing downstream can hold ----------------
#
# Two passes. The first only answers "is anything wrong?", through checks compiled once per message type
# (a batch of 10,000 events is walked on every call); only a request it flags is walked again, slowly,
# to name each bad field by its path.


def check(message: Message, *, full: bool) -> list[FieldViolation]:
    """Violations in a parsed message. ``full``: also look for NUL in strings (the caller knows there is
    no 0x00 byte in the encoding otherwise, so no string can hold one: the common case costs nothing)."""
    if not _suspect(message.DESCRIPTOR, full)(message):
        return []
    found: list[FieldViolation] = []
    _name_violations(message, "", found, full)
    return found


def _ts_bad(value: Any) -> bool:
    return not (MIN_TIMESTAMP_S <= value.seconds <= MAX_TIMESTAMP_S and 0 <= value.nanos <= 999_999_999)


def _duration_bad(value: Any) -> bool:
    seconds, nanos = value.seconds, value.nanos
    return not (abs(seconds) <= MAX_DURATION_S and abs(nanos) <= 999_999_999 and seconds * nanos >= 0)


def _json_has_nul(value: Any) -> bool:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return "\x00" in value.string_value
    if kind == "struct_value":
        return _struct_has_nul(value.struct_value)
    if kind == "list_value":
        return any(map(_json_has_nul, value.list_value.values))
    return False


def _struct_has_nul(value: Any) -> bool:
    for key, item in value.fields.items():
        if "\x00" in key or _json_has_nul(item):
            return True
    return False


def _has_nul(text: str) -> bool:
    return "\x00" in text


_WELL_KNOWN = {_TIMESTAMP: _ts_bad, _DURATION: _duration_bad, _STRUCT: _struct_has_nul, _VALUE: _json_has_nul,
               _LIST: lambda value: any(map(_json_has_nul, value.values))}
_TEXT_ONLY = {_STRUCT, _VALUE, _LIST}  # JSON values hold no timestamps: only their text can be rejected


def _map_field(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and bool(_message_type(field).GetOptions().map_entry)


@cache
def _relevant(descriptor: Descriptor, full: bool, _seen: frozenset[str] = frozenset()) -> bool:
    """Whether a message of this type can hold anything to reject (recursive types are assumed to)."""
    name = descriptor.full_name
    if name in _WELL_KNOWN:
        return full or name not in _TEXT_ONLY
    if name in _seen:
        return True
    seen = _seen | {name}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING and full:
            return True
        if field.type == FieldDescriptor.TYPE_MESSAGE and _relevant(_message_type(field), full, seen):
            return True
    return False


@cache
def _suspect(descriptor: Descriptor, full: bool) -> Callable[[Any], bool]:
    """A function that tells whether a message of this type holds anything to reject."""
    if descriptor.full_name in _WELL_KNOWN:
        if full or descriptor.full_name not in _TEXT_ONLY:
            return _WELL_KNOWN[descriptor.full_name]
        return lambda _: False
    checks: list[Callable[[Any], bool]] = []
    for field in descriptor.fields:
        step = _suspect_field(field, full)
        if step is not None:
            checks.append(step)
    if not checks:
        return lambda _: False

    def suspect(message: Any) -> bool:
        for step in checks:
            if step(message):
                return True
        return False

    return suspect


def _suspect_field(field: FieldDescriptor, full: bool) -> Callable[[Any], bool] | None:
    name = field.name
    repeated = field.is_repeated
    if _map_field(field):
        text_keys = full and _message_type(field).fields_by_name["key"].type == FieldDescriptor.TYPE_STRING
        value = _message_type(field).fields_by_name["value"]
        if value.type == FieldDescriptor.TYPE_STRING and full:
            return lambda m: any(_has_nul(k) or _has_nul(v) for k, v in getattr(m, name).items())
        if value.type == FieldDescriptor.TYPE_MESSAGE and _relevant(_message_type(value), full):
            inner = _message_type(value)
            return lambda m: any((text_keys and _has_nul(k)) or _suspect(inner, full)(v)
                                 for k, v in getattr(m, name).items())
        if text_keys:
            return lambda m: any(map(_has_nul, getattr(m, name)))
        return None
    if field.type == FieldDescriptor.TYPE_STRING:
        if not full:
            return None
        if repeated:
            return lambda m: any(map(_has_nul, getattr(m, name)))
        return lambda m: "\x00" in getattr(m, name)
    if field.type != FieldDescriptor.TYPE_MESSAGE or not _relevant(_message_type(field), full):
        return None
    inner = _message_type(field)
    if repeated:
        return lambda m: any(map(_suspect(inner, full), getattr(m, name)))
    return lambda m: m.HasField(name) and _suspect(inner, full)(getattr(m, name))


def _name_violations(message: Any, path: str, found: list[FieldViolation], full: bool) -> None:
    """The slow pass: every violation in ``message``, by path (only for a message already flagged)."""
    kind = message.DESCRIPTOR.full_name
    if kind == _TIMESTAMP:
        if _ts_bad(message):
            found.append(FieldViolation(_root(path), BAD_TIMESTAMP))
        return
    if kind == _DURATION:
        if _duration_bad(message):
            found.append(FieldViolation(_root(path), BAD_DURATION))
        return
    if kind == _STRUCT:
        for key, item in message.fields.items():
            if _has_nul(key):
                found.append(FieldViolation(f"{_root(path)} (a key)", HAS_NUL))
            _name_violations(item, key_path(path, key), found, full)
        return
    if kind == _VALUE:
        which = message.WhichOneof("kind")
        if which == "string_value" and _has_nul(message.string_value):
            found.append(FieldViolation(_root(path), HAS_NUL))
        elif which in ("struct_value", "list_value"):
            _name_violations(getattr(message, which), path, found, full)
        return
    if kind == _LIST:
        for i, item in enumerate(message.values):
            _name_violations(item, f"{path}[{i}]", found, full)
        return
    for field, value in message.ListFields():
        where = join(path, field.json_name)
        if _map_field(field):
            for key, item in value.items():
                at = key_path(where, key) if isinstance(key, str) else f"{where}[{key}]"
                if isinstance(key, str) and full and _has_nul(key):
                    found.append(FieldViolation(f"{where} (a key)", HAS_NUL))
                if isinstance(item, str):
                    if full and _has_nul(item):
                        found.append(FieldViolation(at, HAS_NUL))
                elif isinstance(item, Message):
                    _name_violations(item, at, found, full)
        elif field.type == FieldDescriptor.TYPE_STRING:
            if not full:
                continue
            if field.is_repeated:
                found += [FieldViolation(f"{where}[{i}]", HAS_NUL) for i, text in enumerate(value) if _has_nul(text)]
            elif _has_nul(value):
                found.append(FieldViolation(where, HAS_NUL))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                for i, item in enumerate(value):
                    _name_violations(item, f"{where}[{i}]", found, full)
            else:
                _name_violations(value, where, found, full)


def request_type_of(method: str) -> str | None:
    """The request message type of ``/package.Service/Method``, if the descriptor pool knows it."""
    service, _, name = method.strip("/").partition("/")
    try:
        return str(descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name).input_type.full_name)
    except (KeyError, AttributeError):
        return None
