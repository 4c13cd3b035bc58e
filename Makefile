# Two entry points: `make up` runs the platform, `make test` runs the tests. Everything they need
# is installed from here (PyPI packages, pinned by constraints.txt), never by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SITE = $(shell $(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
PROTOS := $(wildcard protos/insights/v1/*.proto)
GENERATED := server/insights/v1/__init__.py
DESCRIPTOR := gateway/build/insights.pb

.PHONY: install protos up test lint typecheck model lock clean

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

protos: $(GENERATED) $(DESCRIPTOR)

up: protos
	$(PY) -m insights up $(if $(DEMO),--demo) $(if $(TRITON),--triton)

test: protos
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff; mypy --strict on the server and, in its own run, on the training package (torch need not be
# installed); the dependency rule between the bounded contexts (import-linter, contracts in pyproject.toml).
lint: protos
	$(VENV)/bin/ruff check server tests benchmarks training
	$(VENV)/bin/mypy
	cd training && ../$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

model: install
	$(PY) -m pip install -q -c constraints.txt -e training
	$(PY) -m insights_training all

lock: install
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf server/insights/v1 gateway/build var
