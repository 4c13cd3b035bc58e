"""Test support: real processes (server, Envoy, private PostgreSQL/Redis), clients, gRPC-Web framing."""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from google.protobuf.message import Message

from insights.auth.keyring import kid_for_secret
from insights.dev.gateway import GatewayConfig, write_config
from insights.dev.gateway import start as start_envoy
from insights.dev.mailsink import MailSink, ReceivedMail

REPO_ROOT = Path(__file__).resolve().parents[1]
DASHBOARD_DEV_ORIGIN = "http://localhost:5173"
"""The origin the test stacks allow by CORS (a dashboard development server's)."""
JWT_SECRET = "test-secret-0123456789abcdef0123456789abcdef"
STRONG_PASSWORD = "Corr3ct-Horse-Battery!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    """Polls a condition until it holds: synchronisation on state, not on elapsed time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


_addresses = itertools.count(0)
_run_block = random.randrange(1, 250)  # runs within one rate-limit window must not share addresses


def next_client_ip() -> str:
    """A distinct loopback source address, so that per-IP rate limits of one test don't leak into another."""
    n = next(_addresses)
    return f"127.{_run_block}.{n // 250}.{n % 250 + 2}"


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# The mail sink of each running stack, by its gateway port: register() reads the verification link there.
_MAIL_BY_PORT: dict[int, MailSink] = {}


@dataclass
class Stack:
    """One server + one Envoy in front of it, against the given PostgreSQL and Redis, sending its mail to a
    real SMTP sink (``mail``: the one given, or its own)."""

    database_url: str
    redis_url: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    key_prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}:")
    """Redis key prefix of this stack's server (the run's own, or a fresh one)."""
    grpc_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    """Envoy's admin interface (loopback)."""
    gateway_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    """What Envoy sends and the server expects (``gateway.secret``): a process without it is not believed."""
    gateway: dict[str, Any] = field(default_factory=lambda: {"cors_origins": (DASHBOARD_DEV_ORIGIN,)})
    """GatewayConfig fields for this stack's Envoy (CORS origins, TLS, limits, reflection)."""
    server: subprocess.Popen[bytes] | None = None
    envoy: subprocess.Popen[bytes] | None = None
    mail: MailSink | None = None
    _own_mail: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.gateway_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            INSIGHTS_NETWORK__GRPC_PORT=str(self.grpc_port),
            INSIGHTS_NETWORK__METRICS_PORT=str(self.metrics_port),
            INSIGHTS_AUTH__JWT_SECRET=JWT_SECRET,
            INSIGHTS_REDIS__KEY_PREFIX=self.key_prefix,
            INSIGHTS_GATEWAY__SECRET=self.gateway_secret,
            INSIGHTS_LOG_LEVEL="INFO",
            INSIGHTS_MAIL__HOST="127.0.0.1",
            INSIGHTS_MAIL__PORT=str(self.mail.port if self.mail else 0),
            INSIGHTS_MAIL__TLS="none",
            INSIGHTS_MAIL__PUBLIC_URL=self.url,
            **self.extra_env,
        )
        return env

    def start(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.mail is None:
            self.mail, self._own_mail = MailSink(free_port()).start(), True
        _MAIL_BY_PORT[self.gateway_port] = self.mail
        self.start_server()
        self.start_envoy()
        self.wait_healthy()
        return self

    def start_envoy(self) -> None:
        config = write_config(
            GatewayConfig(
                listen_port=self.gateway_port,
                upstream_port=self.grpc_port,
                listen_host="127.0.0.1",
                admin_port=self.admin_port,
                **self.gateway,
            ),
            self.workdir / "envoy.yaml",
        )
        self.envoy = start_envoy(config, log_path=self.workdir / "envoy.log", secret=self.gateway_secret)

    def envoy_log(self) -> str:
        path = self.workdir / "envoy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_server(self) -> None:
        log = (self.workdir / "server.log").open("ab")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "insights", "serve"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )

    def wait_healthy(self, timeout_s: float = 60) -> None:
        def healthy() -> bool:
            assert self.server is not None and self.server.poll() is None, self.server_log()[-3000:]
            try:
                return httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout_s, "the stack to report healthy")

    def server_log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in (self.envoy, self.server):
            if process is not None:
                stop_process(process)
        _MAIL_BY_PORT.pop(self.gateway_port, None)
        if self._own_mail and self.mail is not None:
            self.mail.stop()

    def client(self, ip: str | None = None) -> httpx.Client:
        """An HTTP client of Envoy's public port, from its own loopback address."""
        return httpx.Client(
            base_url=self.url, timeout=30, transport=httpx.HTTPTransport(local_address=ip or next_client_ip())
        )


# --- accounts -----------------------------------------------------------------------------


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


def mail_of(client: httpx.Client) -> MailSink:
    """The SMTP sink of the stack this client talks to."""
    return _MAIL_BY_PORT[client.base_url.port or 80]


def mail_after(client: httpx.Client, email: str, subject: str, send: Callable[[], httpx.Response]) -> ReceivedMail:
    """Calls ``send`` and returns the mail for ``email`` with ``subject`` that it caused."""
    sink = mail_of(client)
    seen = len([m for m in sink.to(email) if subject.lower() in m.subject.lower()])
    response = send()
    assert response.status_code == 200, response.text
    return sink.wait_for(email, subject, after=seen)


VERIFY_SUBJECT = "Confirm your email"
NOTICE_SUBJECT = "tried to sign up"
RESET_SUBJECT = "Reset your password"


def register(client: httpx.Client, *, email: str | None = None, org: str = "Acme") -> dict[str, Any]:
    """Signs up a new organization and completes the sign-up with the emailed link (which signs its admin in),
    from an address of its own (so that the caller's strict per-address budget for authentication calls is
    left untouched). The answer: accessToken, refreshToken, tokenType, expiresIn, user."""
    body = {
        "email": email or unique_email("admin"),
        "password": STRONG_PASSWORD,
        "firstName": "Ada",
        "lastName": "Admin",
        "organizationName": f"{org} {uuid.uuid4().hex[:6]}",
    }
    with httpx.Client(
        base_url=client.base_url, timeout=30, transport=httpx.HTTPTransport(local_address=next_client_ip())
    ) as own:
        def send() -> httpx.Response:
            response = own.post("/api/auth/register", json=body)
            assert response.json() == {"status": "verification_sent"}, response.text
            return response

        link = mail_after(own, body["email"], VERIFY_SUBJECT, send)
        assert link.token is not None, link.body
        verified = own.post("/api/auth/verify-email", json={"token": link.token, "password": body["password"]})
        assert verified.status_code == 200, verified.text
        return dict(verified.json())


def login(client: httpx.Client, email: str, password: str = STRONG_PASSWORD) -> dict[str, Any]:
    """Signs in; the answer: accessToken, refreshToken, tokenType, expiresIn, user."""
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def forge_token(
    claims: dict[str, Any], *, secret: str = JWT_SECRET, algorithm: str = "HS256", kid: str | None = None
) -> str:
    """A token signed with ``secret``, under ``kid`` (default: the kid the server gives that secret)."""
    return jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": kid or kid_for_secret(secret)})


def unsigned_token(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def field_violations(response: httpx.Response) -> dict[str, str]:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.BadRequest"):
            return {v["field"]: v["description"] for v in detail["fieldViolations"]}
    return {}


# --- gRPC-Web framing (what a browser's grpc-web client sends) ---------------------------------


GRPC_WEB_HEADERS = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-user-agent": "grpc-web-test"}
TRAILER_FLAG = 0x80


def grpc_web_body(request: Message) -> bytes:
    """One uncompressed gRPC-Web data frame: flag byte, big-endian length, message."""
    payload = request.SerializeToString()
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def split_grpc_web_frames(buffer: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete (flag, frame) pairs at the start of ``buffer``, and the incomplete rest."""
    frames: list[tuple[int, bytes]] = []
    while len(buffer) >= 5 and len(buffer) >= 5 + (length := struct.unpack(">I", buffer[1:5])[0]):
        frames.append((buffer[0], buffer[5 : 5 + length]))
        buffer = buffer[5 + length :]
    return frames, buffer


def grpc_web_call(
    client: httpx.Client,
    method: str,
    request: Message,
    response_type: type[Message],
    headers: dict[str, str] | None = None,
) -> tuple[Message | None, dict[str, str]]:
    response = client.post(method, content=grpc_web_body(request), headers={**GRPC_WEB_HEADERS, **(headers or {})})
    assert response.status_code == 200, response.text
    message: Message | None = None
    trailers: dict[str, str] = {
        k.lower(): v for k, v in response.headers.items() if k.lower().startswith("grpc-")
    }
    frames, _ = split_grpc_web_frames(response.content)
    for flag, frame in frames:
        if flag & TRAILER_FLAG:
            for line in frame.decode().split("\r\n"):
                if ":" in line:
                    key, value = line.split(":", 1)
                    trailers[key.strip().lower()] = value.strip()
        else:
            message = response_type.FromString(frame)
    return message, trailers


def iter_ndjson(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.strip():
            yield json.loads(line)
