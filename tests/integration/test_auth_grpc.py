"""The same authentication flow over plain gRPC and over gRPC-Web framing, both through Envoy's one port."""

from __future__ import annotations

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from insights.dev.mailsink import MailSink
from insights.v1 import auth_pb2, auth_pb2_grpc
from tests.support import STRONG_PASSWORD, VERIFY_SUBJECT, Stack, grpc_web_call, unique_email


@pytest.fixture
def channel(stack: Stack) -> grpc.Channel:
    with grpc.insecure_channel(stack.grpc_target) as ch:
        yield ch


def test_register_login_refresh_me_over_grpc(channel: grpc.Channel, mail_sink: MailSink) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    email = unique_email("grpc")
    registered = auth.Register(
        auth_pb2.RegisterRequest(
            email=email,
            password=STRONG_PASSWORD,
            first_name="G",
            last_name="Rpc",
            organization_name="gRPC Org",
        )
    )
    assert registered.status == "verification_sent"
    token = mail_sink.wait_for(email, VERIFY_SUBJECT).token
    verified = auth.VerifyEmail(auth_pb2.VerifyEmailRequest(token=token, password=STRONG_PASSWORD))
    assert verified.user.email == email and verified.token_type == "Bearer"
    login = auth.Login(auth_pb2.LoginRequest(email=email, password=STRONG_PASSWORD))
    refreshed = auth.Refresh(auth_pb2.RefreshRequest(refresh_token=login.refresh_token))
    me, call = auth.GetMe.with_call(
        auth_pb2.GetMeRequest(), metadata=[("authorization", f"Bearer {refreshed.access_token}")]
    )
    assert me.user.email == email and me.user.role == "admin"
    headers = dict(call.initial_metadata())
    assert headers["x-ratelimit-limit"] == "100" and headers["x-request-id"]


def test_grpc_errors_carry_google_rpc_details(channel: grpc.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        auth.Register(auth_pb2.RegisterRequest(email="nope", password="x"))
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    violations = error_details_pb2.BadRequest()
    assert any(d.Unpack(violations) for d in status.details)
    assert {v.field for v in violations.field_violations} >= {"email", "password", "firstName"}

    with pytest.raises(grpc.RpcError) as unauthenticated:
        auth.GetMe(auth_pb2.GetMeRequest())
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_and_reflection_are_served(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    service = health.Check(health_pb2.HealthCheckRequest(service="insights.v1.AuthService"))
    assert service.status == health_pb2.HealthCheckResponse.SERVING


def test_same_flow_over_grpc_web(stack: Stack, mail_sink: MailSink) -> None:
    email = unique_email("web")
    with stack.client() as http:
        registered, trailers = grpc_web_call(
            http,
            "/insights.v1.AuthService/Register",
            auth_pb2.RegisterRequest(
                email=email,
                password=STRONG_PASSWORD,
                first_name="W",
                last_name="Eb",
                organization_name="Web Org",
            ),
            auth_pb2.RegisterResponse,
        )
        assert trailers["grpc-status"] == "0" and registered is not None
        verified, trailers = grpc_web_call(
            http,
            "/insights.v1.AuthService/VerifyEmail",
            auth_pb2.VerifyEmailRequest(
                token=mail_sink.wait_for(email, VERIFY_SUBJECT).token, password=STRONG_PASSWORD
            ),
            auth_pb2.VerifyEmailResponse,
        )
        assert trailers["grpc-status"] == "0" and verified is not None and verified.user.email == email
        login, _ = grpc_web_call(
            http,
            "/insights.v1.AuthService/Login",
            auth_pb2.LoginRequest(email=email, password=STRONG_PASSWORD),
            auth_pb2.LoginResponse,
        )
        assert login is not None
        refreshed, _ = grpc_web_call(
            http,
            "/insights.v1.AuthService/Refresh",
            auth_pb2.RefreshRequest(refresh_token=login.refresh_token),
            auth_pb2.RefreshResponse,
        )
        assert refreshed is not None
        me, _ = grpc_web_call(
            http,
            "/insights.v1.AuthService/GetMe",
            auth_pb2.GetMeRequest(),
            auth_pb2.GetMeResponse,
            headers={"authorization": f"Bearer {refreshed.access_token}"},
        )
        assert me is not None and me.user.email == email

        denied, trailers = grpc_web_call(
            http, "/insights.v1.AuthService/GetMe", auth_pb2.GetMeRequest(), auth_pb2.GetMeResponse
        )
        assert denied is None and trailers["grpc-status"] == str(grpc.StatusCode.UNAUTHENTICATED.value[0])


def test_browser_preflight_is_answered_with_cors_headers(stack: Stack) -> None:
    response = httpx.options(
        f"{stack.url}/insights.v1.AuthService/Login",
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "grpc-status" in response.headers["access-control-expose-headers"]


def test_prometheus_metrics_count_calls_per_method_and_code(stack: Stack) -> None:
    with stack.client() as http:
        http.get("/api/auth/me")  # 401
        register_response = http.post("/api/auth/register", json={"email": "bad"})  # 400
        assert register_response.status_code == 400
    metrics = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/metrics").text
    get_me, register = "/insights.v1.AuthService/GetMe", "/insights.v1.AuthService/Register"
    assert f'insights_rpc_duration_seconds_count{{code="UNAUTHENTICATED",method="{get_me}"}}' in metrics
    assert f'insights_rpc_errors_total{{code="INVALID_ARGUMENT",method="{register}"}}' in metrics
