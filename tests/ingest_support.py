"""Helpers shared by the ingestion, stream and privacy tests: an organization with an API key, events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support import Stack, bearer, register

KEY_PERMISSIONS = ["data:ingest", "data:write", "stream:read", "customers:manage", "insights:read"]


@dataclass
class Org:
    id: str
    admin_token: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        """Machine-client credentials: 6000 calls/min, so bulk test traffic is not rate-limited."""
        return {"x-api-key": self.api_key}

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("x-api-key", self.api_key)]


def new_org(stack: Stack, name: str = "Ingest", permissions: Sequence[str] = KEY_PERMISSIONS) -> Org:
    """A new organization, its admin's token and an API key with ``permissions``."""
    with stack.client() as http:
        admin = register(http, org=name)
        created = http.post(
            "/api/api-keys", headers=bearer(admin["accessToken"]),
            json={"name": f"{name} tests", "permissions": list(permissions)},
        )
        assert created.status_code == 200, created.text
        return Org(admin["user"]["organizationId"], admin["accessToken"], created.json()["secret"])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event(customer: str | None = None, *, ago: timedelta = timedelta(minutes=1), channel: str = "chat",
          content: str = "The delivery was late again", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customerId": customer or f"cust-{uuid.uuid4().hex[:10]}",
        "timestamp": iso(datetime.now(UTC) - ago),
        "channel": channel,
        "eventType": "support_message",
        "content": content,
        "metadata": {"device": "iPhone", "country": "de", "segment": "premium"},
    }
    body.update(extra)
    return body


def ingest(http: httpx.Client, org: Org, body: dict[str, Any]) -> httpx.Response:
    return http.post("/api/data/ingest", headers=org.headers, json=body)


def batch(http: httpx.Client, org: Org, items: list[dict[str, Any]], key: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"interactions": items}
    if key:
        body["idempotencyKey"] = key
    return http.post("/api/data/ingest/batch", headers=org.headers, json=body)


def error_info(response: httpx.Response) -> dict[str, str]:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return dict(detail.get("metadata", {}))
    return {}
