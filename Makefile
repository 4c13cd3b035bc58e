# Two entry points: `make up` runs the platform, `make test` runs the tests. Everything they need
# is installed from here (PyPI packages pinned by constraints.txt, npm packages by
# web/package-lock.json, Chromium from Debian), never by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SITE = $(shell $(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
PROTOS := $(wildcard protos/insights/v1/*.proto)
GENERATED := server/insights/v1/__init__.py
DESCRIPTOR := gateway/build/insights.pb
# google.api / google.rpc protos for buf (lint, the dashboard's code generation), from googleapis-common-protos.
GOOGLEAPIS := build/googleapis/.copied
WEB_DEPS := web/node_modules/.installed
WEB_DIST := web/dist/index.html
WEB_MOCK_DIST := web/dist-mock/index.html
WEB_SOURCES := $(shell find web/src web/public -type f -not -path 'web/src/gen/*' 2>/dev/null) \
	web/index.html web/package.json web/package-lock.json web/tsconfig.json web/vite.config.ts web/buf.gen.yaml

.PHONY: install protos up test test-web web web-dev browser lint typecheck model model-v4 gpu-model lock clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[local,dev]'
	touch $@

install: $(VENV)/.installed

# Python stubs and the descriptor set Envoy loads, both from protos/ (never edited by hand).
$(GENERATED) $(DESCRIPTOR) &: $(PROTOS) $(VENV)/.installed
	mkdir -p gateway/build
	$(PY) -m grpc_tools.protoc -I protos -I $(SITE) --python_out=server --pyi_out=server \
		--grpc_python_out=server $(PROTOS)
	$(PY) -m grpc_tools.protoc -I protos -I $(SITE) --include_imports --include_source_info \
		--descriptor_set_out=$(DESCRIPTOR) $(PROTOS)
	touch $(GENERATED)

$(GOOGLEAPIS): $(VENV)/.installed
	rm -rf build/googleapis
	mkdir -p build/googleapis/google/api build/googleapis/google/rpc
	cp $(SITE)/google/api/*.proto build/googleapis/google/api/
	cp $(SITE)/google/rpc/*.proto build/googleapis/google/rpc/
	touch $@

protos: $(GENERATED) $(DESCRIPTOR) $(GOOGLEAPIS)

# The dashboard: npm packages exactly as locked, then a build when a source changed.
$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	web/node_modules/.bin/buf --version > /dev/null
	touch $@

$(WEB_DIST): $(WEB_SOURCES) $(PROTOS) $(GOOGLEAPIS) $(WEB_DEPS)
	cd web && npm run build

web: $(WEB_DIST)

# The same app on its in-memory mock backend, for the browser tests of the signed-in pages.
$(WEB_MOCK_DIST): $(WEB_SOURCES) $(PROTOS) $(GOOGLEAPIS) $(WEB_DEPS)
	cd web && npm run build:mock

# Hot-reloading UI development: Vite proxies /api and gRPC-Web to the gateway of `make up`
# (INSIGHTS_GATEWAY_URL, default http://127.0.0.1:8080); MOCK=1 uses the in-memory backend instead.
web-dev: $(GOOGLEAPIS) $(WEB_DEPS)
	cd web && npm run $(if $(MOCK),dev:mock,dev)

# Chromium for the browser tests, from Debian (Playwright downloads no browser here).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@/usr/bin/chromium --version

up: protos web
	INSIGHTS_WEB_DIST=$(CURDIR)/web/dist $(PY) -m insights up $(if $(DEMO),--demo) $(if $(TRITON),--triton)

# The dashboard's unit tests (type check + Vitest) and its size budget.
test-web: $(GOOGLEAPIS) $(WEB_DEPS) $(WEB_DIST) $(WEB_MOCK_DIST)
	cd web && npm test && npm run size

test: protos test-web
	$(PY) -m pytest $(PYTEST_ARGS)

# buf lint (STANDARD) on the protos; ruff; mypy --strict on the server and, in its own run, on the training
# package (torch need not be installed); the dependency rule between the bounded contexts (import-linter,
# contracts in pyproject.toml).
lint: protos $(WEB_DEPS)
	web/node_modules/.bin/buf lint
	$(VENV)/bin/ruff check server tests benchmarks training
	$(VENV)/bin/mypy
	cd training && ../$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The newest version (5: tweets and rated sentences; insights_training.MODEL_VERSION), trained, exported,
# calibrated, then evaluated through the server's own backend (calibration included) into the model card.
# Versions 3 and 4 stay in the repository beside it for A/B rollouts.
model: install
	$(PY) -m pip install -q -c constraints.txt -e training
	$(PY) -m insights_training all

# Version 4: version 3's weights and quantization in a faster graph (each SkipLayerNormalization as Sum +
# LayerNormalization, which ONNX Runtime's CPU kernels run ~5x faster at these sizes). Committed; this
# reproduces it byte for byte from version 3 (docs/inference.md, "Version 4").
model-v4: install
	PYTHONPATH=training $(PY) -m insights_training per-token-int8 --scheme per-tensor \
		--source model_repository/sentiment/3/model.onnx --output model_repository/sentiment/4/model.onnx
	$(PY) -m insights model calibrate --version 4 --write

# The fp16 model for GPU nodes (stock Triton, deploy/triton-fp16/sentiment/<version>/model.onnx), converted from
# each published int8 version in seconds; needs onnx but neither torch nor the training checkpoint.
gpu-model: install
	PYTHONPATH=training $(PY) -m insights_training gpu

lock: install
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf server/insights/v1 gateway/build var build web/dist web/dist-mock web/src/gen
