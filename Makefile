# Two commands set up a fresh machine (Python 3.11+, pip, make):
#   make demo   create .venv, install medallion, run the retail demo on generated data
#   make test   same set-up (and pyspark, for the Spark tests; Java 17 from Debian; dbt-core +
#               dbt-duckdb in .venv-dbt, for the import dbt tests; Apache Airflow in
#               .venv-airflow, for the export airflow tests; Azurite from npm in .azurite/, for
#               the object-store tests), then the layer rule
#               (import-linter) and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
# dbt-core + dbt-duckdb in their own virtualenv: the `import dbt` tests build their dbt projects
# with it and compare (tests/onboard/test_import_dbt.py makes it too when it is missing)
DBT_VENV := .venv-dbt
DBT_REQUIREMENTS := tests/onboard/dbt-requirements.txt
DBT_STAMP := $(DBT_VENV)/.requirements
# Apache Airflow in its own virtualenv: the `export airflow` tests load the DAG files it writes
# and run a task (tests/orchestrate/test_airflow_export.py makes it too when it is missing)
AIRFLOW_VENV := .venv-airflow
AIRFLOW_REQUIREMENTS := tests/orchestrate/airflow-requirements.txt
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.requirements

.PHONY: demo test lint format bench clean azurite

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.1"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# the tests also run compiled SQL on a local Spark: pyspark (~500 MB) for `make test` only
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,spark]"
	touch $(SPARK_STAMP)

demo: $(STAMP)
	$(BIN)/medallion demo

$(DBT_STAMP): $(DBT_REQUIREMENTS)
	rm -rf $(DBT_VENV)
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install --quiet -r $(DBT_REQUIREMENTS)
	cp $(DBT_REQUIREMENTS) $(DBT_STAMP)

$(AIRFLOW_STAMP): $(AIRFLOW_REQUIREMENTS)
	rm -rf $(AIRFLOW_VENV)
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r $(AIRFLOW_REQUIREMENTS)
	cp $(AIRFLOW_REQUIREMENTS) $(AIRFLOW_STAMP)

# Azurite (Microsoft's Azure Storage emulator) from npm into .azurite/ (git-ignored): the
# object-store tests start it on 127.0.0.1 (medallion/devservers/azurite.py); needs node and npm
AZURITE_VERSION := 3.37.0
AZURITE := .azurite/node_modules/.bin/azurite-blob

# (a registry connection that stalls hangs npm for good: each attempt is cut after 5 minutes
# and tried again, 3 times)
$(AZURITE):
	@for i in 1 2 3; do \
	  timeout 300 npm install --prefix .azurite --no-audit --no-fund --silent \
	    --fetch-timeout=60000 --fetch-retries=3 azurite@$(AZURITE_VERSION) && exit 0; \
	  echo "npm install azurite: attempt $$i did not finish; trying again" >&2; \
	done; exit 1

azurite: $(AZURITE)

test: $(SPARK_STAMP) $(DBT_STAMP) $(AIRFLOW_STAMP) $(AZURITE)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/retail.py

clean:
	rm -rf $(VENV) $(DBT_VENV) $(AIRFLOW_VENV) .azurite .pytest_cache .ruff_cache
