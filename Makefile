VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: install demo test lint typecheck bench clean iam-unused

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/videojobs demo --out videos

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# Runs the whole suite recording every AWS call's IAM check, then lists in docs/security.md
# the permissions template.yaml grants that no call used.
IAM_RECORD := .local/iam-exercised.jsonl
iam-unused: install
	mkdir -p .local && rm -f $(IAM_RECORD)
	VIDEOJOBS_IAM_RECORD=$(CURDIR)/$(IAM_RECORD) $(VENV)/bin/pytest -n 2 --dist loadfile -q
	$(PY) -m videojobs_local.stack.iam_report $(IAM_RECORD) --template template.yaml --update docs/security.md

bench: install
	$(PY) bench/download.py

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
