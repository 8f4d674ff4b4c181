# examsys — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MO := examsys/translations/zh/LC_MESSAGES/messages.mo
PG_TEST_URL ?= $(or $(DATABASE_URL),postgresql://examsys:examsys@127.0.0.1:5432/examsys_test)
PYTEST := $(BIN)/python -m pytest
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-unit test-pg test-browser lint install serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP) $(MO)

$(MO): $(wildcard examsys/translations/zh/*.json) tools/build_catalog.py $(STAMP)
	$(BIN)/python tools/build_catalog.py

## make run: set up everything on a fresh machine, load the demo once, serve http://127.0.0.1:5000
run: install
	mkdir -p instance
	$(BIN)/examsys db upgrade
	$(BIN)/examsys demo
	@echo "examsys is serving on http://127.0.0.1:5000  (Ctrl-C to stop)"
	@# plain HTTP on loopback: the session cookie cannot be marked Secure here (make serve behind HTTPS does)
	EXAMSYS_INSECURE_COOKIES=1 $(BIN)/examsys run --host 127.0.0.1 --port 5000

## make test: the whole suite — unit (SQLite), PostgreSQL, browser
test: install
	bash scripts/system-deps.sh
	$(BIN)/lint-imports
	$(PYTEST) tests/question_bank tests/scoring tests/examsys -q -n 2 -m "not browser"
	TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) tests/examsys -q -n 2 -m "not browser"
	$(PYTEST) tests/browser -q -n 2 -m browser

test-unit: install
	$(PYTEST) tests/question_bank tests/scoring tests/examsys -q -n 2 -m "not browser"

test-pg: install
	bash scripts/system-deps.sh
	TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) tests/examsys -q -n 2 -m "not browser"

test-browser: install
	bash scripts/system-deps.sh
	$(PYTEST) tests/browser -q -n 2 -m browser

## make serve: production — gunicorn (WORKERS=n, default 2×cores+1) on PostgreSQL from DATABASE_URL, migrations
## applied first; refuses without DATABASE_URL or SECRET_KEY (deploy/serve.sh, docs/deployment.md)
serve: install
	BIN=$(BIN) bash deploy/serve.sh

lint: install
	$(BIN)/lint-imports

bench: install
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache
