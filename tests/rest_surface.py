"""The REST surface, read from the protos: every google.api.http rule, the request message behind it,
and where each of its fields travels (path, query string or JSON body). The generated route tests and
the edge fuzzer (tests/fuzz_edge.py) are driven by this, never by a hand-written list of routes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from insights.api.access import API_FILES

_VARIABLE = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=[^}]*)?\}")
# Message types that JSON writes as something other than an object of their fields.
WELL_KNOWN_JSON = {
    "google.protobuf.Timestamp": "timestamp", "google.protobuf.Duration": "duration",
    "google.protobuf.FieldMask": "fieldmask", "google.protobuf.Struct": "object", "google.protobuf.Value": "value",
    "google.protobuf.ListValue": "array", "google.api.HttpBody": "httpbody",
}


@dataclass(frozen=True)
class Leaf:
    """A field that holds a value (not a message of fields), by proto path and by REST JSON path."""

    names: tuple[str, ...]
    """Proto field names from the request down to this field."""
    json_names: tuple[str, ...]
    field: FieldDescriptor
    repeated_at: tuple[bool, ...]
    """For each step, whether that field is repeated (a JSON array)."""

    @property
    def kind(self) -> str:
        if self.field.type == FieldDescriptor.TYPE_MESSAGE:
            assert self.field.message_type is not None
            return WELL_KNOWN_JSON.get(self.field.message_type.full_name, "message")
        return {
            FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "bytes",
            FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_DOUBLE: "double",
            FieldDescriptor.TYPE_FLOAT: "double", FieldDescriptor.TYPE_ENUM: "enum",
        }.get(self.field.type, "int")

    @property
    def repeated(self) -> bool:
        return self.repeated_at[-1]

    def violation_path(self) -> str:
        """The path the server names in a violation of this leaf (``interactions[0].customerId``)."""
        parts = []
        for name, repeated in zip(self.json_names, self.repeated_at, strict=True):
            parts.append(f"{name}[0]" if repeated else name)
        return ".".join(parts)

    def query_name(self) -> str:
        return ".".join(self.json_names)


@dataclass(frozen=True)
class Route:
    method: MethodDescriptor
    verb: str
    template: str
    body: str
    """"" (no body), "*" (every field not in the path) or a field name."""
    path_fields: tuple[str, ...] = field(default=())

    @property
    def grpc_path(self) -> str:
        assert self.method.containing_service is not None
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request(self) -> Descriptor:
        return self.method.input_type

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    def path(self, values: dict[str, str]) -> str:
        """The URL path with each variable replaced by its (already percent-encoded) value."""
        return _VARIABLE.sub(lambda m: values.get(m.group(1), "00000000-0000-0000-0000-000000000000"), self.template)

    def violation_path(self, leaf: Leaf) -> str:
        """How the server names ``leaf`` in a violation: relative to the REST body when the body is one
        field (``POST /api/data/ingest``'s ``customerId``, not ``interaction.customerId``)."""
        path = leaf.violation_path()
        if self.body and self.body != "*" and path.startswith(f"{self.body}."):
            return path[len(self.body) + 1:]
        return path

    def location(self, leaf: Leaf) -> str:
        dotted = ".".join(leaf.names)
        if dotted in self.path_fields:
            return "path"
        if self.body == "*" or (self.body and leaf.names[0] == self.body):
            return "body"
        return "query"

    def leaves(self, max_depth: int = 4) -> list[Leaf]:
        return list(_leaves(self.request, (), (), (), max_depth, frozenset()))

    def body_json(self, values: dict[tuple[str, ...], Any]) -> Any:
        """The JSON body holding ``values`` (by leaf names), shaped as this route's body rule says."""
        if not self.body:
            return None
        document: dict[str, Any] = {}
        for names, value in values.items():
            if self.body != "*":
                if names[0] != self.body:
                    continue
                names = names[1:]
            _place(document, self._json_names(names), value, self._repeated(names))
        return document

    def _descriptor_path(self, names: tuple[str, ...]) -> list[FieldDescriptor]:
        descriptor = self.request if self.body == "*" else _message_type(self.request.fields_by_name[self.body])
        found = []
        for name in names:
            fd = descriptor.fields_by_name[name]
            found.append(fd)
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                descriptor = _message_type(fd)
        return found

    def _json_names(self, names: tuple[str, ...]) -> list[str]:
        return [fd.json_name for fd in self._descriptor_path(names)]

    def _repeated(self, names: tuple[str, ...]) -> list[bool]:
        return [fd.is_repeated and not _is_map(fd) for fd in self._descriptor_path(names)]


def _message_type(fd: FieldDescriptor) -> Descriptor:
    assert fd.message_type is not None
    return fd.message_type


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.type == FieldDescriptor.TYPE_MESSAGE and bool(_message_type(fd).GetOptions().map_entry)


def _place(document: dict[str, Any], names: list[str], value: Any, repeated: list[bool]) -> None:
    node: Any = document
    for i, (name, is_list) in enumerate(zip(names, repeated, strict=True)):
        last = i == len(names) - 1
        if last:
            node[name] = [value] if is_list else value
            return
        if is_list:
            node = node.setdefault(name, [{}])[0]
        else:
            node = node.setdefault(name, {})


def _leaves(descriptor: Descriptor, names: tuple[str, ...], json_names: tuple[str, ...],
            repeated_at: tuple[bool, ...], depth: int, seen: frozenset[str]) -> Iterator[Leaf]:
    for fd in descriptor.fields:
        here = ((*names, fd.name), (*json_names, fd.json_name), (*repeated_at, fd.is_repeated and not _is_map(fd)))
        if fd.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(fd):
            inner = _message_type(fd)
            if inner.full_name in WELL_KNOWN_JSON:
                yield Leaf(here[0], here[1], fd, here[2])
            elif depth > 1 and inner.full_name not in seen:
                yield from _leaves(inner, *here, depth - 1, seen | {descriptor.full_name})
            continue
        if _is_map(fd):
            continue  # no request of the API has one
        yield Leaf(here[0], here[1], fd, here[2])


def routes() -> list[Route]:
    """Every REST route of the API (additional bindings included), in proto order."""
    found: list[Route] = []
    for file in API_FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    verb = binding.WhichOneof("pattern")
                    if verb is None or verb == "custom":
                        continue
                    template = getattr(binding, verb)
                    variables = tuple(_VARIABLE.findall(template))
                    found.append(Route(method, verb.upper(), template, binding.body, variables))
    return found
