# Two commands do all setup: `make dev` and `make test`. Both bootstrap .venv with the
# python3 on PATH and reinstall only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: dev test lint format bench package clean

dev: $(VENV)/.installed
	$(BIN)/qs dev

# The engine suites run three times: on one Redis, on a local Redis Cluster (3 masters + 3
# replicas, tests/cluster.py), and on one cluster node holding every slot, where Redis refuses any
# script's access outside its queue's slot; both need Debian's redis-server 7.
CLUSTER_SUITES := tests/shared/jobs tests/shared/delivery tests/functions/test_delivery.py tests/functions/test_limits.py \
	tests/dashboard/test_search.py tests/dashboard/test_actions.py tests/dashboard/test_history.py \
	tests/dashboard/test_attempts.py

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	test -x /usr/bin/redis-server || (apt-get install -y redis-server || (apt-get update && apt-get install -y redis-server))
	test -x /usr/bin/chromium || (apt-get install -y chromium || (apt-get update && apt-get install -y chromium))
	command -v npx >/dev/null || (apt-get install -y nodejs npm || (apt-get update && apt-get install -y nodejs npm))
	command -v systemd-analyze >/dev/null || (apt-get install -y systemd || (apt-get update && apt-get install -y systemd))
	$(BIN)/pytest
	$(BIN)/pytest --redis-cluster=full $(CLUSTER_SUITES)
	$(BIN)/pytest --redis-cluster=single $(CLUSTER_SUITES)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# Benchmarks with baselines measured in the same run; `make bench ARGS=--quick` for small sizes.
bench: $(VENV)/.installed-dev
	command -v wrk >/dev/null || (apt-get install -y wrk || (apt-get update && apt-get install -y wrk))
	command -v redis-benchmark >/dev/null || (apt-get install -y redis-tools || (apt-get update && apt-get install -y redis-tools))
	if command -v npm >/dev/null; then (cd bench/peers/bullmq && npm ci --no-audit --no-fund) || echo 'bench: npm ci failed: the Fastify + BullMQ peer is skipped'; else echo 'bench: no npm: the Fastify + BullMQ peer is skipped'; fi
	$(BIN)/python -m bench $(ARGS)

# The Lambda artifact and its CloudFormation template in .serverless/, built by the Serverless
# Framework v3 pinned in infra/package.json, with no AWS account: credentials are removed from
# the environment and HOME is a project folder (no ~/.aws; the pip and requirement caches live
# there too). Then cfn-lint on that template (W3005 is the Framework's own DependsOn style) and
# on infra/aws-stack.yml. STAGE=prod for another stage.
# The artifact's bytecode is compiled by Python 3.12, Lambda's runtime (infra/compile_artifact.py):
# LAMBDA_PYTHON, else the first python3.12 found on PATH, in pyenv or in .local/uv-python, else
# one that uv (installed from PyPI into .local/uv) downloads into .local/uv-python.
STAGE    ?= dev
SLS_HOME := $(CURDIR)/.local/package-home
UV       := UV_PYTHON_INSTALL_DIR=$(CURDIR)/.local/uv-python .local/uv/bin/uv
LAMBDA_PYTHON ?= $(shell for p in python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 \
	$(CURDIR)/.local/uv-python/cpython-3.12*/bin/python3.12); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && command -v "$$p" && break; done)
package: $(VENV)/.installed-dev infra/node_modules/.installed
	py="$(LAMBDA_PYTHON)"; if [ -z "$$py" ]; then \
	  $(PIP) install --target .local/uv uv && $(UV) python install 3.12 && \
	  py="$$($(UV) python find --managed-python 3.12)" || exit 1; fi; \
	rm -rf .serverless && \
	env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	  HOME=$(SLS_HOME) SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off \
	  SLS_PYTHON=$(CURDIR)/$(BIN)/python LAMBDA_PYTHON="$$py" \
	  infra/node_modules/.bin/serverless package --stage $(STAGE)
	$(BIN)/cfn-lint --ignore-checks W3005 -- .serverless/cloudformation-template-update-stack.json
	$(BIN)/cfn-lint -- infra/aws-stack.yml

infra/node_modules/.installed: infra/package.json infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund --cache $(SLS_HOME)/.npm
	touch $@

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .local .mypy_cache .pytest_cache .ruff_cache .serverless infra/node_modules
