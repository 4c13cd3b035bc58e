"""The edge, as an attacker meets it: through Envoy's public port and the server's own gRPC port.

Input that cannot be stored or even decoded is 400 / INVALID_ARGUMENT naming the field, for every
field of every REST route (read from the protos, not listed by hand); oversized requests get 413/431
from Envoy; CORS, security headers, the access log, the trusted-proxy rule, reflection, TLS and the
overload answer behave as README's "Security model: the edge" says."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from insights.api.decoding import HAS_NUL, NOT_UTF8, SURROGATE
from insights.dev.gateway import GatewayConfig, render, write_config
from insights.dev.gateway import start as start_envoy
from insights.v1 import auth_pb2, auth_pb2_grpc, common_pb2, ingestion_pb2
from tests.ingest_support import Org, event, new_org
from tests.rest_surface import Route, routes
from tests.support import (
    DASHBOARD_DEV_ORIGIN,
    Stack,
    bearer,
    field_violations,
    free_port,
    register,
    stop_process,
    unique_email,
    wait_until,
)

ROUTES = routes()
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
# Hostile text as it travels: percent-encoded in a URL, escaped (or raw) in a JSON string.
IN_URL = {"not UTF-8": ("%FF%FE", NOT_UTF8), "lone surrogate": ("%ED%A0%80", SURROGATE), "NUL": ("a%00b", HAS_NUL)}
IN_JSON = {"not UTF-8": b'"\xff\xfe"', "lone surrogate": b'"\\ud800"', "NUL": b'"a\\u0000b"'}


@pytest.fixture(scope="module")
def admin(open_stack: Stack) -> dict[str, Any]:
    with open_stack.client() as http:
        return register(http, org="Edge")


@pytest.fixture(scope="module")
def org(stack: Stack) -> Org:
    return new_org(stack, name="Edge")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _send(http: httpx.Client, route: Route, token: str, path_values: dict[str, str], query: list[tuple[str, str]],
          body: bytes | None) -> httpx.Response:
    url = route.path(path_values) + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    headers = {**bearer(token), "content-type": "application/json"}
    if route.server_streaming:
        with http.stream(route.verb, url, headers=headers, content=body) as response:
            response.read()
            return response
    return http.request(route.verb, url, headers=headers, content=body)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.leaves()], ids=lambda r: f"{r.verb} {r.template}")
def test_bad_text_in_any_field_of_any_rest_route_is_400(open_stack: Stack, admin: dict[str, Any], route: Route) -> None:
    """Every field of the route (path, query, body; nested and repeated; of any type), given text that
    is not UTF-8, holds a lone surrogate or NUL: 400, never 500. A string field is named by the server;
    text where a number, a timestamp or an object belongs, and JSON text that is not even decodable, are
    refused by Envoy's transcoder (400) before they reach gRPC."""
    token = admin["accessToken"]
    with open_stack.client() as http:
        for leaf in route.leaves():
            place = route.location(leaf)
            for what in IN_URL:
                if place == "body":
                    document = route.body_json({leaf.names: "\ue000"})
                    raw = _json(document).replace(b'"\\ue000"', IN_JSON[what])
                    response = _send(http, route, token, {}, [], raw)
                    expected = IN_URL[what][1]
                else:
                    value, expected = IN_URL[what]
                    path_values = {".".join(leaf.names): value} if place == "path" else {}
                    query = [] if place == "path" else [(leaf.query_name(), value)]
                    body = _json(route.body_json({})) if route.body else None
                    response = _send(http, route, token, path_values, query, body)
                context = f"{route.verb} {route.template} {route.violation_path(leaf)} ({place}, {what}): "
                context += response.text
                assert response.status_code == 400, context
                from_server = response.headers.get("content-type", "").startswith("application/json")
                if leaf.kind == "string" and from_server:
                    assert field_violations(response).get(route.violation_path(leaf)) == expected, context
                elif leaf.kind == "string":
                    # Envoy's own JSON parser: only for body text it cannot decode.
                    assert place == "body" and what != "NUL", context


def test_struct_values_are_checked_like_any_other_text(open_stack: Stack, admin: dict[str, Any]) -> None:
    token = admin["accessToken"]
    metadata = {"device": "iPhone", "tags": ["ok", "a\u0000b"], "a b": "x\u0000"}
    body = {"interactions": [event(), event(metadata=metadata)]}
    with open_stack.client() as http:
        response = http.post("/api/data/ingest/batch", headers=bearer(token), json=body)
    assert response.status_code == 400, response.text
    assert field_violations(response) == {
        "interactions[1].metadata.tags[1]": HAS_NUL, 'interactions[1].metadata["a b"]': HAS_NUL,
    }


# --- raw gRPC and gRPC-Web ------------------------------------------------------------------------


def _raw_unary(channel: grpc.Channel, method: str, payload: bytes, metadata: list[tuple[str, str]] | None = None
               ) -> grpc.RpcError:
    call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as raised:
        call(payload, metadata=metadata, timeout=30)
    return raised.value  # type: ignore[return-value]


def test_undecodable_grpc_messages_are_invalid_argument_naming_the_field(stack: Stack, org: Org) -> None:
    bad = ingestion_pb2.IngestRequest(interaction=common_pb2.InteractionInput(customer_id="\ue000"))
    payload = bad.SerializeToString().replace("\ue000".encode(), b"\xed\xa0\x80")
    for target in (stack.grpc_target, f"127.0.0.1:{stack.grpc_port}"):
        with grpc.insecure_channel(target) as channel:
            error = _raw_unary(channel, "/insights.v1.IngestionService/Ingest", payload, org.metadata)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
            assert error.details() == f"customerId: {SURROGATE}"  # as the core names Ingest's fields
            # The open services too: health (its Watch as well) and reflection.
            error = _raw_unary(channel, "/grpc.health.v1.Health/Check", b"\x0a\x02\xc3\x28")
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and error.details() == f"service: {NOT_UTF8}"
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
        reflect = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                        request_serializer=lambda b: b, response_deserializer=lambda b: b)
        good = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
        with pytest.raises(grpc.RpcError) as raised:
            list(reflect(iter([good, b"\x1a\x02\xff\xfe"]), timeout=30))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert raised.value.details() == f"requests[1].fileByFilename: {NOT_UTF8}"  # type: ignore[attr-defined]


def test_ingest_stream_names_the_bad_item_and_keeps_what_came_before(stack: Stack, org: Org,
                                                                     owner_db: psycopg.Connection) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    good = [ingestion_pb2.IngestStreamRequest(interaction=common_pb2.InteractionInput(
        customer_id=customer, channel="web", event_type="page_view", content="", timestamp=_ts(i)))
        for i in range(2)]
    bad = ingestion_pb2.IngestStreamRequest(interaction=common_pb2.InteractionInput(customer_id="\ue000"))
    messages = [m.SerializeToString() for m in good]
    messages.append(bad.SerializeToString().replace("\ue000".encode(), b"\xff\xfe\xfd"))
    with grpc.insecure_channel(stack.grpc_target) as channel:
        call = channel.stream_unary("/insights.v1.IngestionService/IngestStream",
                                    request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as raised:
            call(iter(messages), metadata=org.metadata, timeout=30)
    error: Any = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == f"interactions[2].customerId: {NOT_UTF8}"
    stored = owner_db.execute("SELECT count(*) FROM customers c JOIN customer_interactions i ON i.customer_id = c.id"
                              " WHERE c.external_id = %s", (customer,)).fetchone()
    assert stored == (2,)


def _ts(i: int) -> Timestamp:
    return Timestamp(seconds=int(time.time()) - 60 - i)


def _grpc_web(stack: Stack, method: str, frame: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    with stack.client() as http:
        return http.post(method, content=frame, headers={
            "content-type": "application/grpc-web+proto", "x-grpc-web": "1", **(headers or {})}, timeout=30)


def _grpc_status(response: httpx.Response) -> str:
    if "grpc-status" in response.headers:
        return response.headers["grpc-status"]
    match = re.search(rb"grpc-status:\s*(\d+)", response.content)
    assert match, response.content
    return match.group(1).decode()


def test_empty_truncated_and_protocol_breaking_grpc_calls_get_an_answer(stack: Stack) -> None:
    """grpc itself would hang on a unary call without a complete message, reset a GET, or answer
    INTERNAL for a malformed grpc-timeout or binary header: each gets a proper status instead."""
    check = "/grpc.health.v1.Health/Check"
    for frame in (b"", b"\x00\x00\x00\x00\x09", b"\x00\x00\x00\x00\x02\x0a"):
        response = _grpc_web(stack, check, frame)
        assert response.status_code == 200 and _grpc_status(response) == "3", (frame, response.headers)
    assert _grpc_status(_grpc_web(stack, check, b"\x00" * 5, {"grpc-timeout": "1x"})) == "3"
    assert _grpc_status(_grpc_web(stack, check, b"\x00" * 5, {"grpc-encoding": "bogus"})) == "12"
    assert _grpc_status(_grpc_web(stack, check, b"\x01\x00\x00\x00\x02xx", {"grpc-encoding": "gzip"})) == "12"
    # Binary metadata is not the API's: dropped at the edge, whatever its encoding.
    assert _grpc_status(_grpc_web(stack, check, b"\x00" * 5, {"x-thing-bin": "%%%not base64"})) == "0"
    with stack.client() as http:
        reset_bait = http.get(check, headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"})
    assert reset_bait.status_code == 200 and _grpc_status(reset_bait) == "12"  # not a 503 "upstream reset"


# --- Watch ----------------------------------------------------------------------------------------


def test_health_watch_streams_the_status_and_its_changes(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """Two watchers through Envoy get SERVING; one leaves; SIGTERM turns the server NOT_SERVING and the
    other one is told (grpc's own servicer forgot the remaining watchers when one left)."""
    stack = Stack(database_url, redis_url, tmp_path, extra_env={"INSIGHTS_WORKER__ENABLED": "false"}).start()
    try:
        with grpc.insecure_channel(stack.grpc_target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            staying = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
            leaving = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
            assert next(leaving).status == health_pb2.HealthCheckResponse.SERVING
            assert next(staying).status == health_pb2.HealthCheckResponse.SERVING
            leaving.cancel()
            received: list[int] = []
            reader = threading.Thread(target=lambda: received.extend(r.status for r in _until_error(staying)))
            reader.start()
            assert stack.server is not None
            stack.server.terminate()  # SIGTERM: graceful shutdown, health first
            reader.join(timeout=60)
            assert received[:1] == [health_pb2.HealthCheckResponse.NOT_SERVING]
    finally:
        stack.stop()


def _until_error(stream: Any) -> Iterator[Any]:
    try:
        yield from stream
    except grpc.RpcError:
        return


# --- limits ---------------------------------------------------------------------------------------


def test_oversized_bodies_get_413_and_oversized_headers_431(stack: Stack) -> None:
    limit = GatewayConfig().max_request_body_bytes
    with stack.client() as http:
        body = b'{"email":"' + b"a" * limit + b'","password":"x"}'
        assert http.post("/api/auth/login", content=body).status_code == 413
        assert http.get("/api/health", headers={"x-padding": "a" * 40_000}).status_code == 431
        assert http.get("/api/insights/sentiment?text=" + "a" * 40_000).status_code == 431


def test_requests_within_the_limits_are_never_refused_upstream(stack: Stack, org: Org) -> None:
    """What Envoy admits, the server takes: a 30 KB URL or header used to exceed grpc's metadata limit
    (that answered 429, as if rate limited)."""
    with stack.client() as http:
        response = http.get("/api/insights/sentiment?text=" + "a" * 30_000, headers=org.headers)
        assert response.status_code in (200, 403), response.text  # the key may lack analysis:run
        assert http.get("/api/health", headers={"x-padding": "a" * 30_000}).status_code == 200


def test_a_grpc_message_over_the_limit_is_resource_exhausted_not_buffered(stack: Stack) -> None:
    too_big = 7 * GatewayConfig().max_request_body_bytes + 1024
    payload = health_pb2.HealthCheckRequest(service="x" * too_big).SerializeToString()
    with grpc.insecure_channel(stack.grpc_target) as channel:
        error = _raw_unary(channel, "/grpc.health.v1.Health/Check", payload)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()


# --- headers, CORS, logs --------------------------------------------------------------------------


def test_cors_allows_only_the_configured_origins_and_never_null(stack: Stack) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(f"{stack.url}/api/auth/login", headers={
            "origin": origin, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        })

    assert preflight(DASHBOARD_DEV_ORIGIN).headers["access-control-allow-origin"] == DASHBOARD_DEV_ORIGIN
    for origin in ("null", "https://evil.example", DASHBOARD_DEV_ORIGIN + ".evil.example", "http://localhost:5174"):
        answer = preflight(origin)
        assert "access-control-allow-origin" not in answer.headers, origin
        simple = httpx.get(f"{stack.url}/api/health", headers={"origin": origin})
        assert "access-control-allow-origin" not in simple.headers, origin


def test_every_answer_carries_the_security_headers_and_no_server_details(stack: Stack) -> None:
    with stack.client() as http:
        answers = {
            "ok": http.get("/api/health"),
            "server error status": http.get("/api/auth/me"),
            "envoy local reply": http.get("/api/nope"),
            "too large": http.post("/api/auth/login", content=b"x" * (GatewayConfig().max_request_body_bytes + 1)),
            "grpc-web": _grpc_web(stack, "/grpc.health.v1.Health/Check", b"\x00" * 5),
        }
    for what, response in answers.items():
        for key, value in SECURITY_HEADERS.items():
            assert response.headers.get(key) == value, (what, key, response.headers)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], what
        assert "server" not in response.headers and "x-envoy-upstream-service-time" not in response.headers, what
        assert "strict-transport-security" not in response.headers, what  # plain HTTP: no HSTS
    assert answers["ok"].headers["cache-control"] == "no-store"
    assert answers["server error status"].headers["cache-control"] == "no-store"


def test_access_log_holds_routes_never_query_strings_or_customer_ids(stack: Stack, org: Org) -> None:
    secret_text = f"my-order-{uuid.uuid4().hex}"
    customer = f"cust-{uuid.uuid4().hex}"
    request_ids = [uuid.uuid4().hex for _ in range(2)]
    with stack.client() as http:
        http.get(f"/api/insights/sentiment?text={secret_text}", headers={**org.headers, "x-request-id": request_ids[0]})
        http.get(f"/api/customers/{customer}/export", headers={**org.headers, "x-request-id": request_ids[1]})
    wait_until(lambda: all(rid in stack.envoy_log() for rid in request_ids), 30, "the access log lines")
    lines = [json.loads(line) for line in stack.envoy_log().splitlines() if any(r in line for r in request_ids)]
    assert [line["path"] for line in lines] == [
        "/insights.v1.AnalysisService/AnalyzeSentiment", "/insights.v1.PrivacyService/ExportCustomer"]
    log = stack.envoy_log()
    assert secret_text not in log and customer not in log
    assert not any("?" in (json.loads(line).get("path") or "") for line in log.splitlines() if line.startswith("{"))


# --- who may speak for a client -------------------------------------------------------------------


def test_the_grpc_port_believes_x_forwarded_for_only_from_the_gateway(stack: Stack, owner_db: psycopg.Connection
                                                                      ) -> None:
    """A local process is a trusted peer by address, but without the gateway's secret its
    x-forwarded-for is ignored: it is rate-limited (and audited) as itself."""
    def failed_login_ip(metadata: list[tuple[str, str]]) -> str:
        request_id = uuid.uuid4().hex
        with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
            with pytest.raises(grpc.RpcError):
                auth_pb2_grpc.AuthServiceStub(channel).Login(
                    auth_pb2.LoginRequest(email=unique_email("spoof"), password="Wrong-password-1!"),
                    metadata=[("x-request-id", request_id), *metadata], timeout=30)
        row = owner_db.execute("SELECT client_ip FROM audit_log WHERE request_id = %s AND action = 'auth.login.failed'",
                               (request_id,)).fetchone()
        assert row is not None
        return str(row[0])

    spoofed = "203.0.113.7"
    assert failed_login_ip([("x-forwarded-for", spoofed)]) == "127.0.0.1"
    assert failed_login_ip([("x-forwarded-for", spoofed), ("x-insights-gateway", "a guess")]) == "127.0.0.1"
    # The mechanism itself: with the gateway's secret the address is believed.
    assert failed_login_ip([("x-forwarded-for", spoofed), ("x-insights-gateway", stack.gateway_secret)]) == spoofed


def test_a_client_cannot_pose_as_the_gateway_through_envoy(stack: Stack) -> None:
    """Envoy overwrites whatever x-insights-gateway a client sends, and appends the address it saw."""
    with grpc.insecure_channel(stack.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(), metadata=[("x-insights-gateway", stack.gateway_secret)])
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# --- reflection, admin, metrics -------------------------------------------------------------------


def _list_services(target: str) -> list[str]:
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        for answer in stub.ServerReflectionInfo(iter([request]), timeout=30):
            return [s.name for s in answer.list_services_response.service]
    return []


def test_reflection_is_served_on_the_servers_port_not_on_the_public_listener(stack: Stack) -> None:
    assert "insights.v1.AuthService" in _list_services(f"127.0.0.1:{stack.grpc_port}")
    with pytest.raises(grpc.RpcError) as raised:
        _list_services(stack.grpc_target)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
    assert '"prefix": "/grpc.reflection."' in render(GatewayConfig())  # the route that refuses it
    assert '"prefix": "/grpc.reflection."' not in render(GatewayConfig(public_reflection=True))


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_admin_and_metrics_listen_on_loopback_only(stack: Stack) -> None:
    assert httpx.get(f"http://127.0.0.1:{stack.admin_port}/ready").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{stack.metrics_port}/metrics").status_code == 200
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    for port in (stack.admin_port, stack.metrics_port):
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=5):
            pass


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_tls_listener_speaks_https_and_http2_with_hsts(stack: Stack, certificate: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    cert, key = certificate
    trust = ssl.create_default_context(cafile=str(cert))
    port = free_port()
    config = write_config(GatewayConfig(listen_port=port, listen_host="127.0.0.1", upstream_port=stack.grpc_port,
                                        admin_port=free_port(), tls_cert_file=cert, tls_key_file=key),
                          tmp_path / "envoy-tls.yaml")
    envoy = start_envoy(config, log_path=tmp_path / "envoy-tls.log", secret=stack.gateway_secret)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"https://127.0.0.1:{port}/api/health", verify=trust, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "the TLS listener")
        response = httpx.get(f"https://127.0.0.1:{port}/api/health", verify=trust)
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{port}", credentials,
                                 options=[("grpc.ssl_target_name_override", "localhost")]) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)  # no plain HTTP on a TLS listener
    finally:
        stop_process(envoy)


# --- overload and contended edits -----------------------------------------------------------------


def test_overload_is_a_503_with_retry_after_not_an_upstream_reset(stack: Stack, org: Org, tmp_path: Path) -> None:
    """An Envoy whose circuit breaker admits one request in flight: with a live event stream holding it,
    the next request is refused at once, as overload (503, retry-after, JSON), and logged with its flag."""
    port = free_port()
    config = write_config(GatewayConfig(listen_port=port, listen_host="127.0.0.1", upstream_port=stack.grpc_port,
                                        admin_port=free_port(), max_requests_in_flight=1), tmp_path / "envoy-one.yaml")
    envoy = start_envoy(config, log_path=tmp_path / "envoy-one.log", secret=stack.gateway_secret)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ok(f"{url}/api/health"), 30, "the one-request Envoy")
        with httpx.Client(base_url=url, timeout=30) as http, http.stream("GET", "/api/stream", headers=org.headers):
            def refused() -> bool:
                return http.get("/api/health").status_code == 503

            wait_until(refused, 30, "the second request to be refused")
            response = http.get("/api/health")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["code"] == 14 and "too many requests in progress" in response.json()["message"]
        wait_until(lambda: '"flags":"UO"' in (tmp_path / "envoy-one.log").read_text(), 30, "the overflow log line")
    finally:
        stop_process(envoy)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_edit_of_a_row_held_elsewhere_is_a_conflict_not_a_queue(stack: Stack, org: Org, database_url: str) -> None:
    with stack.client() as http:
        created = http.post("/api/data/ingest", headers=org.headers, json=event())
        interaction_id = created.json()["interactionId"]
        with psycopg.connect(database_url) as holder:
            holder.execute("SELECT 1 FROM customer_interactions WHERE id = %s FOR UPDATE", (interaction_id,))
            response = http.put(f"/api/data/interactions/{interaction_id}", headers=org.headers,
                                json={"id": interaction_id, "version": 1, "content": "edited"})
            holder.rollback()
    assert response.status_code == 409, response.text
    assert response.json()["message"] == "Record is being modified by another request"
    info = next(d for d in response.json()["details"] if d["@type"].endswith("ErrorInfo"))
    assert info["metadata"]["currentVersion"] == "1"


def test_rest_route_list_comes_from_the_protos() -> None:
    templates = {r.template for r in ROUTES}
    assert {"/api/data/interactions/{interaction.id}", "/api/customers/{id}/export", "/api/health"} <= templates
    assert all(r.verb in {"GET", "POST", "PUT", "DELETE", "PATCH"} for r in ROUTES)
