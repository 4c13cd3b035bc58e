"""Access rules per method, read from the ``(insights.v1.access)`` option in the protos."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import FileDescriptor

from insights.v1 import (
    analysis_pb2,
    auth_pb2,
    ingestion_pb2,
    options_pb2,
    privacy_pb2,
    query_pb2,
    stream_pb2,
    system_pb2,
)

API_FILES: tuple[FileDescriptor, ...] = (
    auth_pb2.DESCRIPTOR,
    ingestion_pb2.DESCRIPTOR,
    query_pb2.DESCRIPTOR,
    analysis_pb2.DESCRIPTOR,
    stream_pb2.DESCRIPTOR,
    privacy_pb2.DESCRIPTOR,
    system_pb2.DESCRIPTOR,
)

# Infrastructure services: open, so that load balancers and tooling work without credentials.
OPEN_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


@dataclass(frozen=True)
class AccessRule:
    public: bool
    permission: str = ""
    auth_endpoint: bool = False
    rate_limited: bool = True


# Methods without a rule are closed: authentication required, and no permission can be assumed.
DEFAULT_RULE = AccessRule(public=False, permission="__undeclared__")


def load_access_rules() -> dict[str, AccessRule]:
    rules: dict[str, AccessRule] = {}
    for file in API_FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                option: options_pb2.AccessRule = method.GetOptions().Extensions[options_pb2.access]  # type: ignore[index]
                rules[f"/{service.full_name}/{method.name}"] = AccessRule(
                    public=option.public,
                    permission=option.permission,
                    auth_endpoint=option.auth_endpoint,
                    rate_limited=service.full_name != "insights.v1.SystemService",
                )
    return rules


def rule_for(rules: dict[str, AccessRule], method: str) -> AccessRule:
    if method in rules:
        return rules[method]
    service = method.strip("/").split("/", 1)[0]
    if service in OPEN_SERVICES:
        return AccessRule(public=True, rate_limited=False)
    return DEFAULT_RULE


def service_names() -> list[str]:
    return [s.full_name for f in API_FILES for s in f.services_by_name.values()]
