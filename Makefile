# CatChat: `make run` serves on http://127.0.0.1:8000 (HOST/PORT override), `make test` runs the
# suite. Both create .venv and install the pinned requirements first. See .env.example.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Re-installs only when a requirements file changed since the last successful install.
STAMP := $(VENV)/.requirements.stamp

# Local development and tests: a dev-only SECRET_KEY is allowed. The environment wins.
export DEBUG ?= true
# HOST and PORT (where `make run` listens; default 127.0.0.1:8000) and PYTEST_ARGS reach the
# commands from the environment or the command line: `make run PORT=8080`.

.DEFAULT_GOAL := help
.PHONY: help venv run test lint fmt superuser migrate clean bench

help:
	@echo "make run        serve on http://$${HOST:-127.0.0.1}:$${PORT:-8000}/ (embedded PostgreSQL unless DATABASE_URL;"
	@echo "                WORKERS=N: N processes on one port, needs REDIS_URL)"
	@echo "make test       the test suite (PYTEST_ARGS='-k chat -x' to narrow it)"
	@echo "make lint       ruff check, ruff format --check, mypy"
	@echo "make bench      the benchmarks: chat TTFT vs floor, capacity, load run, recall, beside"
	@echo "                Open WebUI (bench/README.md)"
	@echo "make fmt        ruff --fix and ruff format"
	@echo "make superuser  create an admin account"
	@echo "make migrate    apply database migrations"
	@echo "make venv       create .venv and install the pinned requirements"
	@echo "make clean      stop the embedded database and delete var/ (its data included)"

venv: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# `exec` so that signals reach the server itself (make forwards SIGTERM to its child; Ctrl-C
# reaches the whole foreground process group anyway).
run: venv
	exec $(PY) -m catchat.serve

# axe-core (npm, pinned in package-lock.json) for the accessibility checks of the browser tests;
# `npm ci` again only when the lock file changes. Without npm those checks are skipped, saying so.
NPM_STAMP := node_modules/.ci.stamp

$(NPM_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	  echo "npm not found: the axe-core checks in the browser tests will be skipped" >&2; \
	fi

test: venv $(NPM_STAMP)
	exec $(PY) -m pytest $(PYTEST_ARGS)

# The benchmarks (bench/README.md): chat TTFT and turns/s against the floor, capacity, the load
# run, recall, CatChat beside Open WebUI (peer); one report in bench/results/report.json.
# BENCH_ARGS="--smoke" for tiny sizes (CI), "--only chat load" for some sections. Needs Redis
# (REDIS_URL, default the local one).
bench: venv
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} $(PY) -m bench.run $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# django-stubs loads the settings; with no DATABASE_URL that would start the embedded database,
	@# and mypy leaves with os._exit, skipping the hook that stops it. The URL is never connected to.
	DATABASE_URL=$${DATABASE_URL:-postgres://mypy@127.0.0.1:1/unused} $(VENV)/bin/mypy .

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

superuser: venv
	$(PY) manage.py createsuperuser

migrate: venv
	$(PY) manage.py migrate

clean:
	@if [ -x $(PY) ] && [ -d var/pgdata ]; then $(PY) -m catchat.embedded_db stop; fi
	rm -rf var
