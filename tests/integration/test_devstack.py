"""`make up` (``insights up``) as a user runs it: every part starts (in development mode, with a key ring of
random keys under var/ and mail going to a local sink), a crashed server is restarted with back-off and the
console says so, and Ctrl-C stops everything in order."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import jwt

from insights.auth import keyring
from tests.fixtures.databases import create_database, drop_database
from tests.support import REPO_ROOT, free_port, wait_until


def test_up_restarts_a_crashed_server_and_stops_in_order(redis_url: str, redis_key_prefix: str,
                                                         tmp_path: Path) -> None:
    database_url = create_database()
    gateway = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIGHTS_")}
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, INSIGHTS_VAR_DIR=str(tmp_path),
        # A prefix of its own within the run's: the session stack's rate-limit windows for 127.0.0.1 (where
        # make up's own calls come from) must not spill over into this one.
        INSIGHTS_REDIS__KEY_PREFIX=f"{redis_key_prefix}up:", INSIGHTS_NETWORK__GATEWAY_HOST="127.0.0.1",
        INSIGHTS_NETWORK__GATEWAY_PORT=str(gateway), INSIGHTS_NETWORK__GRPC_PORT=str(free_port()),
        INSIGHTS_NETWORK__METRICS_PORT=str(free_port()), INSIGHTS_NETWORK__ENVOY_ADMIN_PORT=str(free_port()),
    )
    up = subprocess.Popen([sys.executable, "-m", "insights", "up"], env=env, cwd=REPO_ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue[str] = queue.Queue()
    console: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in up.stdout or ()], daemon=True).start()

    def said(pattern: str) -> list[re.Match[str]]:
        """Every console line so far that matches."""
        while not lines.empty():
            console.append(lines.get_nowait().rstrip())
        return [m for line in console if (m := re.search(pattern, line))]

    try:
        wait_until(lambda: bool(said(r"\[up\] ready: ")) or up.poll() is not None, 120, "make up to be ready")
        assert up.poll() is None, "\n".join(console)
        ((login,),) = [m.groups() for m in said(r"\[up\] login: demo@example\.com / (\S+)")]
        # The demo account was created through the emailed link: the mail is under var/mail/, its link on
        # the console; and its tokens are signed by the random key ring made on this first start.
        assert said(r"\[up\] mail to demo@example\.com: Confirm your email")
        assert said(r"\[up\]\s+http://localhost:\d+/verify-email\?token=ev_")
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
        ring = keyring.read_ring(tmp_path / "jwt-keys.json")
        signed_in = httpx.post(f"http://127.0.0.1:{gateway}/api/auth/login",
                               json={"email": "demo@example.com", "password": login}, timeout=10)
        assert signed_in.status_code == 200, signed_in.text
        assert jwt.get_unverified_header(signed_in.json()["accessToken"])["kid"] == ring[-1].kid
        (first,) = said(r"\[up\] server running \(pid (\d+)\)")
        os.kill(int(first[1]), signal.SIGKILL)  # a real crash of the server process
        wait_until(lambda: bool(said(r"\[up\] server exited with code -9; restarting in 1 s")), 30,
                   "the supervisor to notice the crash")
        wait_until(lambda: len(said(r"\[up\] server running")) == 2, 30, "the server to be started again")

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{gateway}/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "the restarted server to answer through Envoy")
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, "\n".join(console)
        said("")  # everything it printed
        stops = [line for line in console if "stopping" in line]
        assert stops == ["[up] stopping envoy", "[up] stopping server"], "\n".join(console)
        assert console[-1] == "[up] stopped"
    finally:
        if up.poll() is None:  # a failed assertion: stop it the way a user would, so its children stop too
            up.send_signal(signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
        drop_database(database_url)
