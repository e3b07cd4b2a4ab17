# Two commands do everything on a fresh machine with Python 3.11+:
#   make run   - install, migrate, seed demo data, start the API + admin, a Celery worker and beat
#   make test  - install, then run the whole suite against PostgreSQL and Redis
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
TEST_WORKERS ?= 2

.PHONY: install run test lint check schema fuzz clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	PYTHON=$(PY) scripts/run-dev.sh

test: install
	PYTHON=$(PY) scripts/wait-for-services.sh
	scripts/ensure-chromium.sh
	DJANGO_SETTINGS_MODULE=clinic.settings.test $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup \
		--cov --cov-report=term $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

check: install
	DJANGO_SETTINGS_MODULE=clinic.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=clinic.settings.test $(PY) manage.py check
	DJANGO_SETTINGS_MODULE=clinic.settings.test $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	DJANGO_SETTINGS_MODULE=clinic.settings.production DJANGO_SECRET_KEY=$$($(PY) -c "import secrets;print(secrets.token_urlsafe(60))") \
		$(PY) manage.py check --deploy --fail-level WARNING

fuzz: install
	PYTHON=$(PY) scripts/wait-for-services.sh
	PYTHON=$(PY) scripts/schemathesis.sh

schema: install
	DJANGO_SETTINGS_MODULE=clinic.settings.test $(PY) manage.py spectacular --validate --file docs/openapi.yaml

clean:
	rm -rf $(VENV) var .coverage htmlcov
