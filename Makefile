# labplatform. `make up` runs the platform; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REDIS_PORT ?= 6379
POSTGRES_PORT ?= 5433


# up.sh installs the packages (make deps) while the local cluster starts.
up:
	@scripts/up.sh

test: deps
	@scripts/test.sh $(PYTEST_ARGS)

# The unit tests alone, in seconds, with no service started: every address points at a
# closed port, so a test that needed one would fail here.
unit: $(VENV)/.installed
	@DATABASE_URL=postgres://unit:unit@127.0.0.1:9/unit REDIS_URL=redis://127.0.0.1:9/0 \
		LABPLATFORM_KUBECONFIG=/nonexistent/kubeconfig SECRET_KEY=unit-only DEBUG=false \
		LABPLATFORM_RUN_DIR=$(CURDIR)/.run/unit $(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

lint: deps
	@scripts/apt-ensure.sh shellcheck
	@scripts/lint.sh

deps: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

cluster-build:
	@k8s/local/build.sh >/dev/null

cluster-up:
	@k8s/local/cluster.sh up

cluster-down:
	@k8s/local/cluster.sh down

cluster-status:
	@k8s/local/cluster.sh status
