VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTHON ?= python3

# Scanners with dependency pins of their own, each in its own venv.
CHECKOV_VENV ?= .venv-checkov
SAM_VENV ?= .venv-sam

.PHONY: install demo test lint typecheck bench clean checkov validate

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/videojobs demo --out videos

test: install checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

lint: install checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

# Every check that does not fit is skipped in template.yaml, with its reason.
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.140,<2'
	touch $@

# sam validate --lint (the SAM transform, then cfn-lint); not part of `make test`: the SAM CLI
# is a large install, and tests/unit/test_template.py runs cfn-lint with the transform already.
validate: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1 --template template.yaml

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/download.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) .local .pytest_cache .mypy_cache .ruff_cache
