# syntax=docker/dockerfile:1
# The insights server image. One image, three roles, picked by the command (ENTRYPOINT is `insights`):
#   serve (default): the gRPC server on :50051, Prometheus metrics on :9464
#   worker:          claims pending interactions and analyses them (no port)
#   migrate:         applies db/migrations and grants the application role, then exits
# Build from the repository root (the build context):
#   docker build -f deploy/docker/server.Dockerfile -t insights/server:dev .
# The generated code (server/insights/v1, the descriptor set) is never taken from the context: it is
# made here from protos/, with the same protoc steps as `make protos`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# The code generator lives in a venv of its own: it is not shipped.
# Versions come from constraints.txt (the lock file), hence no pins on the command line.
COPY constraints.txt ./
# hadolint ignore=DL3013
RUN python -m venv /opt/protoc \
 && /opt/protoc/bin/pip install -c constraints.txt grpcio-tools googleapis-common-protos

# Runtime dependencies first (the project's [project.dependencies], locked by constraints.txt), so
# that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && /opt/venv/bin/pip install -c constraints.txt -r /tmp/requirements.txt

COPY protos/ protos/
COPY server/ server/
# `make protos`: Python stubs into the package, and the descriptor set (with imports) for Envoy.
RUN SITE="$(/opt/protoc/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && /opt/protoc/bin/python -m grpc_tools.protoc -I protos -I "$SITE" \
      --python_out=server --pyi_out=server --grpc_python_out=server protos/insights/v1/*.proto \
 && touch server/insights/v1/__init__.py \
 && mkdir -p gateway/build \
 && /opt/protoc/bin/python -m grpc_tools.protoc -I protos -I "$SITE" --include_imports --include_source_info \
      --descriptor_set_out=gateway/build/insights.pb protos/insights/v1/*.proto

# The project itself (not editable), then a consistency check of the whole environment.
RUN /opt/venv/bin/pip install --no-deps -c constraints.txt . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -c "import insights.v1.auth_pb2_grpc, insights.api.server"


# The GPU model repository for Triton on GPU nodes: each version of model_repository/sentiment converted from
# its int8 CPU file to fp16 for the onnxruntime backend's CUDA provider (insights_training.gpu_export, the
# same step as `make gpu-model`; it needs onnx and onnxruntime only, no torch), under the same version
# numbers. Not used by the server itself: Triton's copy step takes it from this image (docker-compose.yml,
# deploy/kubernetes/triton.yaml), so Triton's model and the server's tokenizer always come from one image.
FROM ${PYTHON_IMAGE} AS gpu-model
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY constraints.txt ./
# hadolint ignore=DL3013
RUN python -m venv /opt/gpu-export \
 && /opt/gpu-export/bin/pip install -c constraints.txt onnx onnxruntime numpy
COPY training/insights_training/ training/insights_training/
COPY model_repository/ model_repository/
COPY deploy/triton-fp16/sentiment/config.pbtxt triton-fp16/sentiment/config.pbtxt
RUN PYTHONPATH=training /opt/gpu-export/bin/python -m insights_training gpu \
      --repo-dir model_repository/sentiment --gpu-dir triton-fp16/sentiment


FROM ${PYTHON_IMAGE} AS runtime
# Settings' path defaults point into a source checkout; an installed package has none, so every
# path is set here (see server/insights/settings.py). The server listens on all interfaces of
# its container; Envoy is still the only public entry point (compose network, NetworkPolicy).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INSIGHTS_NETWORK__GRPC_HOST=0.0.0.0 \
    INSIGHTS_NETWORK__GRPC_PORT=50051 \
    INSIGHTS_NETWORK__METRICS_PORT=9464 \
    INSIGHTS_DB__MIGRATIONS_DIR=/app/db/migrations \
    INSIGHTS_INFERENCE__MODEL_REPOSITORY=/app/model_repository \
    INSIGHTS_DESCRIPTOR_SET=/app/gateway/build/insights.pb

RUN groupadd --system --gid 10001 insights \
 && useradd --system --uid 10001 --gid insights --home-dir /app --no-create-home --shell /usr/sbin/nologin insights

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/gateway/build/insights.pb gateway/build/insights.pb
COPY db/migrations/ db/migrations/
# The model repository: the tokenizer and labels the Triton client needs, and the ONNX model for
# the embedded backend (no TRITON_URL). On Kubernetes, Triton's init container copies it from here,
# so Triton and the server always run the same model version.
COPY model_repository/ model_repository/
# The fp16 GPU repository (the gpu-model stage above), for Triton's copy step only.
COPY --from=gpu-model /src/triton-fp16/ triton-fp16/
# Where docker-compose.yml's triton-models step copies it to: a new named volume mounted here takes this
# folder's owner, so the step runs as the image's unprivileged user.
RUN install -d -o 10001 -g 10001 /var/lib/triton-models

# Files stay root-owned and read-only to the process.
USER 10001:10001
EXPOSE 50051 9464

# gRPC health (grpc.health.v1, service ""): SERVING once PostgreSQL is reachable. `insights worker`
# and `insights migrate` serve no gRPC: docker-compose.yml turns this check off for them.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; c = grpc.insecure_channel('127.0.0.1:' + os.environ.get('INSIGHTS_NETWORK__GRPC_PORT', '50051')); r = g.HealthStub(c).Check(h.HealthCheckRequest(), timeout=3); sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)"]

ENTRYPOINT ["insights"]
CMD ["serve"]
