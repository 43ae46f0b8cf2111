# netzwerk-crm — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
FLASK  := CRM_ENV=$${CRM_ENV:-development} $(BIN)/flask --app wsgi
STAMP  := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres fuzz lint format bench i18n vendor validate clean
VNU    := node_modules/vnu-jar/build/dist/vnu.jar

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the app with demo data on SQLite: web + embedded scheduler + file outbox.
run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) crm seed-demo --if-empty --host $${HOST:-127.0.0.1} --port $${PORT:-5000}
	$(FLASK) crm serve --host $${HOST:-127.0.0.1} --port $${PORT:-5000}

## Run the whole test suite (SQLite; set CRM_TEST_DATABASE_URL for PostgreSQL).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	CRM_TEST_DATABASE_URL=$${CRM_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

## A longer property-based campaign over every form and route (CRM_FUZZ_EXAMPLES per form, default 50).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -m fuzz $(PYTEST_ARGS)

## Style, layer contracts between packages (import-linter) and types of crm/ (mypy).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench

## Extract messages, update the de/en catalogues and compile them.
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project netzwerk-crm -o crm/translations/messages.pot .
	$(BIN)/pybabel update -w 100 -i crm/translations/messages.pot -d crm/translations --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d crm/translations --statistics

## The Nu Html Checker (npm vnu-jar, pinned in package-lock.json); needs Java to run.
$(VNU): package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(VNU)

## Crawl a running instance (BASE, default http://127.0.0.1:5000, demo data) as admin and as a
## counsellor and check every page with vnu in one run; exit 1 on any error.
validate: $(STAMP) $(VNU)
	$(BIN)/python -m scripts.validate_html --base $${BASE:-http://127.0.0.1:5000} \
		--email admin@demo.netzwerk-crm.de --email beratung@demo.netzwerk-crm.de \
		--password "$${CRM_DEMO_PASSWORD:-Magdeburg-Demo-2026}"

## Re-vendor the pinned front-end packages from npm (after changing package.json).
vendor:
	bash scripts/vendor_assets.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
