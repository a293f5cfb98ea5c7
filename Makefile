VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: install browser demo test lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# The console's browser tests drive Debian's chromium through its chromedriver. Installed here
# when missing (root, or sudo, with apt-get); otherwise those tests are skipped, loudly.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
		|| echo "WARNING: could not install chromium: the console's browser tests will be SKIPPED" >&2; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
		(sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
		|| echo "WARNING: could not install chromium: the console's browser tests will be SKIPPED" >&2; \
	else \
		echo "WARNING: no chromium and no apt-get: the console's browser tests will be SKIPPED" >&2; \
	fi

demo: install
	$(VENV)/bin/videojobs demo --out videos

test: install browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/download.py

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
