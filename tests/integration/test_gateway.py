"""The Envoy config and the descriptor set it loads are generated from the protos and valid."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2

from insights.dev.gateway import GatewayConfig, render, validate, write_config
from insights.settings import Settings


def test_rendered_config_passes_envoy_validate(tmp_path: Path) -> None:
    for config in (
        GatewayConfig(),
        GatewayConfig(upstream_host="server", cors_origins=("https://app.example.com",)),
    ):
        result = validate(write_config(config, tmp_path / "envoy.yaml"))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK" in result.stdout


def test_filter_order_is_cors_grpc_web_transcoder_router() -> None:
    text = render(GatewayConfig())
    positions = [
        text.index(f"name: envoy.filters.http.{name}")
        for name in ("cors", "grpc_web", "grpc_json_transcoder", "router")
    ]
    assert positions == sorted(positions)


def test_descriptor_set_has_every_service_and_the_error_detail_types() -> None:
    files = descriptor_pb2.FileDescriptorSet.FromString(Settings().descriptor_set.read_bytes())
    names = {f.name for f in files.file}
    assert {
        "google/api/annotations.proto",
        "google/rpc/error_details.proto",
        "insights/v1/auth.proto",
    } <= names
    services = {f"{f.package}.{s.name}" for f in files.file for s in f.service}
    assert {
        "insights.v1.AuthService",
        "insights.v1.IngestionService",
        "insights.v1.QueryService",
        "insights.v1.AnalysisService",
        "insights.v1.StreamService",
        "insights.v1.PrivacyService",
        "insights.v1.SystemService",
    } <= services
