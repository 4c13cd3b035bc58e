"""``insights`` command line: serve, migrate, gateway, up."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from insights.settings import get_settings


def _serve(_: argparse.Namespace) -> int:
    from insights.api.server import serve
    from insights.app import Platform
    from insights.db.migrate import apply_migrations
    from insights.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.migrate_on_start:
        apply_migrations(settings)
    asyncio.run(serve(Platform.build(settings)))
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from insights.db.migrate import apply_migrations
    from insights.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    apply_migrations(settings)
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from insights.gateway import GatewayConfig, validate, write_config

    settings = get_settings()
    config = GatewayConfig(
        listen_port=settings.gateway_port, upstream_host=args.upstream_host, upstream_port=args.upstream_port,
        descriptor=Path(args.descriptor) if args.descriptor else settings.descriptor_set,
    )
    path = write_config(config, Path(args.out))
    print(f"wrote {path}")
    if args.validate:
        result = validate(path)
        print(result.stdout or result.stderr, end="")
        return result.returncode
    return 0


def _up(args: argparse.Namespace) -> int:
    from insights.devstack import run_stack

    return run_stack(demo=args.demo, triton=args.triton)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="insights", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server").set_defaults(run=_serve)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)
    gateway = commands.add_parser("gateway", help="render (and validate) the Envoy config")
    gateway.add_argument("--out", default="gateway/build/envoy.yaml")
    gateway.add_argument("--upstream-host", default="127.0.0.1")
    gateway.add_argument("--upstream-port", type=int, default=50051)
    gateway.add_argument("--descriptor", help="descriptor set path as Envoy will see it")
    gateway.add_argument("--validate", action="store_true")
    gateway.set_defaults(run=_gateway)
    up = commands.add_parser("up", help="run the whole platform locally (embedded defaults)")
    up.add_argument("--demo", action="store_true", help="load demo data once the platform is up")
    up.add_argument("--triton", action="store_true", help="serve the model through a local Triton")
    up.set_defaults(run=_up)
    args = parser.parse_args(argv)
    sys.exit(args.run(args))
