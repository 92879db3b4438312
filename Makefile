# The two commands a newcomer needs: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
STAGE  ?= dev
SPECTRAL := tools/spectral/node_modules/.installed
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run reset load load-promises test fuzz model schemas template policies package deploy deploy-check migrate-shards smoke openapi bench capacity clean chromium

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# pip itself is one of requirements-dev.txt: resolved with the rest, within what chalice declares of it
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# Who takes the cards locally: stripe (localstripe, started with the stack on LOCAL_STRIPE_PORT or a free port; refunds
# are paid back through it) or generic (the signed webhook of any other provider).
PAYMENT_PROVIDER ?= stripe
LOCAL_STRIPE_PORT ?=
# With the generic provider, a stand-in for it confirms every refund asked for (off: they stay REQUESTED).
LOCAL_AUTO_CONFIRM_REFUNDS ?= on

# The local stack keeps its data in .local-stack/state across runs; FRESH=1 (or `make reset` first) starts empty.
FRESH ?=

run: $(VENV)/.installed  ## the whole system locally on http://localhost:$(PORT), its data kept across runs (FRESH=1: start empty)
	PORT=$(PORT) FRESH=$(FRESH) PAYMENT_PROVIDER=$(PAYMENT_PROVIDER) LOCAL_STRIPE_PORT=$(LOCAL_STRIPE_PORT) \
		LOCAL_AUTO_CONFIRM_REFUNDS=$(LOCAL_AUTO_CONFIRM_REFUNDS) $(PY) -m local.run

reset:  ## forget the local stack's data (the next `make run` starts empty); refused while it runs
	@if [ -f .local-stack/run.lock ] && ! $(PYTHON) -c 'import fcntl; fcntl.flock(open(".local-stack/run.lock"), \
		fcntl.LOCK_EX | fcntl.LOCK_NB)' 2>/dev/null; then echo "make run is using .local-stack: stop it first"; exit 1; fi
	rm -rf .local-stack/state

load: $(VENV)/.installed  ## SHOPPERS (200) check out one hot SKU of STOCK (40) units over STOCK_SHARDS (20) stock items at once against BASE_URL (default: make run on PORT) -> dist/load.json
	$(PY) -m tools.load --base-url $(or $(BASE_URL),http://127.0.0.1:$(PORT)) --shoppers $${SHOPPERS:-200} \
		--stock $${STOCK:-40} --stock-shards $${STOCK_SHARDS:-20} --out $${LOAD_JSON:-dist/load.json}

load-promises: $(VENV)/.installed  ## against a running `make run` on PORT: 200 shoppers race for 40 units, payments sent thrice, every function killed
	$(PY) -m tools.load --promises --base-url http://127.0.0.1:$(PORT) --shoppers $${SHOPPERS:-200} \
		--stock $${UNITS:-40} --kill $${LOCAL_STACK_DIR:-.local-stack}

# Spectral and the OWASP API security ruleset (tests/api/test_spectral.py), from the lockfile, with no
# install scripts run; again only when the lockfile changes.
$(SPECTRAL): tools/spectral/package.json tools/spectral/package-lock.json
	@command -v npm >/dev/null || { echo "npm (node 20) is required to lint the OpenAPI document"; exit 1; }
	cd tools/spectral && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

test: $(VENV)/.installed $(SPECTRAL) chromium  ## the whole suite, offline (each file on one worker: module fixtures start stacks)
	$(PY) -m pytest -n 2 --dist loadfile tests

# Headless Chromium and its driver, from Debian, for the docs page's browser test; installed where
# we are root with apt-get, else that test is skipped and says why.
chromium:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver (Debian) for the docs page's browser test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
		echo "chromium could not be installed: the docs page's browser test will be skipped"; \
	else echo "no chromium and not root with apt-get: the docs page's browser test will be skipped"; fi

fuzz: $(VENV)/.installed  ## a longer fuzzing run of the OpenAPI document against the local stack
	FUZZ_EXAMPLES=100 FUZZ_SECONDS=900 $(PY) -m pytest tests/e2e -k fuzzing

model: $(VENV)/.installed  ## a long model-based run of money and stock invariants (random seeds; MODEL_EXAMPLES, MODEL_STEPS)
	MODEL_EXAMPLES=$${MODEL_EXAMPLES:-300} MODEL_STEPS=$${MODEL_STEPS:-50} MODEL_SEED=$${MODEL_SEED:-random} \
		$(PY) -m pytest -p no:cacheprovider tests/orders/test_model.py

bench: $(VENV)/.installed  ## cold start, AWS calls, warm latency, checkout under load, package size -> dist/bench.json (BENCH=checkout_under_load: that alone)
	$(PY) -m tools.bench $(BENCH)

# ORDERS: orders per run (each run: that many customers over as many products, then as many buying one SKU).
capacity: $(VENV)/.installed  ## DynamoDB units per key class, checkouts/s ceilings (shop, one hot SKU), cost per 1,000 orders -> dist/capacity.json
	$(PY) -m tools.capacity --orders $${ORDERS:-10}

openapi: $(VENV)/.installed  ## regenerate openapi.json from the routes and models
	$(PY) -m tools.openapi

package: $(VENV)/.installed  ## dist/$(STAGE)/: deployment.zip, template.json, expanded.json; fails on a lint error
	$(PY) -m tools.package --stage $(STAGE)

# Stack parameters for make deploy, e.g. PARAMETERS="AlarmEmail=ops@example.com AllowedOrigin=https://shop.example.com"
PARAMETERS ?=

deploy: $(VENV)/.installed  ## STAGE (dev|prod) with chalice deploy: resources stack, recorded config, functions, wiring
	$(PY) -m tools.deploy --stage $(STAGE) $(foreach parameter,$(PARAMETERS),--parameter $(parameter))

deploy-check: $(VENV)/.installed  ## after make deploy: what chalice deploy made equals what the packaged STAGE declares
	$(PY) -m tools.equivalence --stage $(STAGE)

migrate-shards: $(VENV)/.installed  ## move index entries from before their keys were sharded (TABLE=<table>; a dry run unless APPLY=1)
	$(PY) -m tools.migrate_shards --table $(or $(TABLE),shop-local) $(if $(filter 1,$(APPLY)),--apply,)

smoke: $(VENV)/.installed  ## the shopper's and staff's flows against BASE_URL (SMOKE_* logins and secret: tools/smoke.py)
	@test -n "$(BASE_URL)" || { echo "usage: make smoke BASE_URL=<the API's URL>"; exit 2; }
	$(PY) -m tools.smoke --base-url $(BASE_URL)

template: $(VENV)/.installed  ## regenerate .chalice/resources.json (the merge template)
	$(PY) -m tools.merge_template

policies: $(VENV)/.installed  ## regenerate the per-function IAM policies in .chalice/
	$(PY) -m tools.iam_policies

schemas: $(VENV)/.installed  ## regenerate docs/events/*.schema.json from the event models
	$(PY) -m tools.event_schemas

clean:
	rm -rf $(VENV) dist .pytest_cache
