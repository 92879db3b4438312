# The two commands a newcomer needs: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
STAGE  ?= dev
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test schemas package openapi bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(VENV)/.installed  ## the whole system locally on http://localhost:$(PORT)
	PORT=$(PORT) $(PY) -m local.run

test: $(VENV)/.installed  ## the whole suite, offline
	$(PY) -m pytest -n 2 tests

openapi: $(VENV)/.installed  ## regenerate openapi.json from the routes and models
	$(PY) -m tools.openapi

schemas: $(VENV)/.installed  ## regenerate docs/events/*.schema.json from the event models
	$(PY) -m tools.event_schemas

clean:
	rm -rf $(VENV) dist .pytest_cache
