VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTHON ?= python3
# The functions run on python3.13 (template.yaml); the unit tests run on it too.
VENV313 ?= .venv313
STAMP313 := $(VENV313)/.installed
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.0/bin/python3) $(shell command -v python3.13 2>/dev/null))

.PHONY: install demo test test-runtime lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/videojobs demo --out videos

test: install test-runtime
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

# The unit tests (the callback and redirect address checks among them) on the Lambda runtime's
# Python, with only the functions' dependencies and what the tests need. No python3.13 is an
# error, never a silent skip.
test-runtime: $(STAMP313)
	$(VENV313)/bin/pytest -n 2 --dist loadfile -q -p no:cacheprovider --confcutdir=tests/unit tests/unit

$(STAMP313): pyproject.toml
	@test -n "$(PYTHON313)" || { echo "python3.13 (the functions' runtime) was not found: install it (pyenv install 3.13.0) or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
	@$(PYTHON313) -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version' || { echo "$(PYTHON313) is not python3.13" >&2; exit 1; }
	test -x $(VENV313)/bin/python || $(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install --quiet --upgrade pip
	$(VENV313)/bin/pip install --quiet -e '.[unit]'
	touch $(STAMP313)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/download.py

clean:
	rm -rf $(VENV) $(VENV313) .local .pytest_cache .mypy_cache .ruff_cache
