"""Access rules (api/access.py): read from the ``(insights.v1.access)`` option of every method in the protos."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from insights.api.access import (
    API_FILES,
    DEFAULT_RULE,
    OPEN_SERVICES,
    AccessRule,
    load_access_rules,
    rule_for,
    service_names,
)
from insights.v1 import options_pb2

PROTOS = Path(__file__).resolve().parents[2] / "protos" / "insights" / "v1"
RULES = load_access_rules()


def _declared_methods() -> dict[str, bool]:
    """Every RPC of every service in protos/, read from the generated descriptors: method -> has (access)."""
    found = {}
    for proto in sorted(PROTOS.glob("*.proto")):
        module = importlib.import_module(f"insights.v1.{proto.stem}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found[f"/{service.full_name}/{method.name}"] = method.GetOptions().HasExtension(options_pb2.access)
    return found


def test_every_proto_file_with_a_service_is_read() -> None:
    """A new .proto file with a service must be added to API_FILES, or its methods would all be closed."""
    with_services = {p.stem for p in PROTOS.glob("*.proto") if re.search(r"^service ", p.read_text(), re.M)}
    assert with_services == {f.name.removeprefix("insights/v1/").removesuffix(".proto") for f in API_FILES}


def test_every_rpc_declares_its_rule_and_has_one() -> None:
    """Each ``rpc`` in protos/ carries the (access) option (none relies on the closed default by omission),
    and the loaded rules are exactly those methods."""
    declared = _declared_methods()
    rpcs = sum(len(re.findall(r"^\s*rpc \w+\(", p.read_text(), re.M)) for p in PROTOS.glob("*.proto"))
    assert len(declared) == rpcs
    assert [m for m, has_option in declared.items() if not has_option] == []
    assert set(RULES) == set(declared)


def test_rules_match_what_the_protos_say() -> None:
    """Spot checks against the protos and README's API table (auth endpoints get the strict per-IP limit)."""
    assert RULES["/insights.v1.AuthService/Login"] == AccessRule(public=True, auth_endpoint=True)
    assert RULES["/insights.v1.AuthService/GetMe"] == AccessRule(public=False, permission="")
    assert RULES["/insights.v1.AuthService/ChangePassword"] == AccessRule(public=False, auth_endpoint=True)
    assert RULES["/insights.v1.AuthService/CreateUser"].permission == "users:manage"
    assert RULES["/insights.v1.IngestionService/UpdateInteraction"].permission == "data:write"
    assert RULES["/insights.v1.StreamService/Subscribe"].permission == "stream:read"
    assert RULES["/insights.v1.PrivacyService/EraseCustomer"].permission == "customers:manage"
    assert RULES["/insights.v1.SystemService/GetHealth"] == AccessRule(public=True, rate_limited=False)


def test_non_public_methods_are_never_open_by_accident() -> None:
    """Public methods are exactly the sign-in flow and health; everything else needs credentials."""
    public = {m.rsplit("/", 1)[1] for m, r in RULES.items() if r.public}
    assert public == {"Register", "VerifyEmail", "Login", "Refresh", "RequestPasswordReset", "ResetPassword",
                      "GetHealth"}
    assert all(not r.permission for r in RULES.values() if r.public)


def test_only_system_service_is_exempt_from_rate_limits() -> None:
    """Health probes are never limited; every other API method counts against the caller's windows."""
    exempt = {m for m, r in RULES.items() if not r.rate_limited}
    assert exempt == {m for m in RULES if m.startswith("/insights.v1.SystemService/")}
    assert exempt


@pytest.mark.parametrize("service", OPEN_SERVICES)
def test_infrastructure_services_are_open_and_not_rate_limited(service: str) -> None:
    """grpc.health and reflection: open to load balancers and tooling, without credentials or limits."""
    assert rule_for(RULES, f"/{service}/AnyMethod") == AccessRule(public=True, rate_limited=False)


@pytest.mark.parametrize(
    "method",
    ["/insights.v1.AuthService/Undeclared", "/insights.v1.Unknown/Method", "/grpc.health.v1.HealthX/Check",
     "/grpc.health.v1/Health", "", "/"],
)
def test_unknown_methods_get_the_closed_default(method: str) -> None:
    """Anything not declared (including look-alikes of the open services) needs a permission nobody has."""
    rule = rule_for(RULES, method)
    assert rule is DEFAULT_RULE
    assert not rule.public and rule.rate_limited
    assert rule.permission not in {r.permission for r in RULES.values()}, "no real principal can hold it"


def test_service_names_lists_every_api_service() -> None:
    """The services the server registers are those the rules cover."""
    assert set(service_names()) == {m.strip("/").split("/")[0] for m in RULES}
