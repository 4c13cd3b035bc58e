"""Property 9 (data validation completeness) through Envoy: a sample of the generated events that the unit
layer checks against the validation core (tests/unit/test_validation.py), sent over REST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.ingest_support import Org, iso, new_org
from tests.support import Stack, field_violations
from tests.validation_strategies import (
    NOW,
    channels,
    contents,
    customer_ids,
    event_types,
    expected_bad,
    keys,
    timestamps,
)


@pytest.fixture(scope="module")
def org(stack: Stack) -> Org:
    return new_org(stack, "Props")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customer_ids, timestamps.filter(lambda t: t[0] is not None), channels, event_types, contents, keys)
def test_rest_rejects_the_same_fields(stack: Stack, org: Org, customer: tuple[str, bool], ts: tuple[Any, bool],
                                      channel: str, event_type: tuple[str, bool], content: str,
                                      key: tuple[str, bool]) -> None:
    # Timestamps relative to now, as the server's clock decides (the absolute lower bound stays absolute).
    moment = ts[0] if ts[0].year < 2000 else datetime.now(UTC) - (NOW - ts[0])
    body = {"customerId": customer[0], "timestamp": iso(moment), "channel": channel, "eventType": event_type[0],
            "content": content, "idempotencyKey": key[0]}
    # A NUL anywhere is refused at the boundary, for the whole request, naming the fields that hold one;
    # otherwise the core names every rule a field breaks.
    with_nul = {name for name, value in body.items() if isinstance(value, str) and "\x00" in value}
    expected = with_nul or expected_bad(customer, ts, channel, event_type, content, (None, True), key)
    with stack.client() as http:
        response = http.post("/api/data/ingest", headers=org.headers, json=body)
    if expected:
        assert response.status_code == 400, response.text
        assert set(field_violations(response)) == expected
    else:
        assert response.status_code == 200, response.text
